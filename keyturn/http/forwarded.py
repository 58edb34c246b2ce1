"""The client's address behind reverse proxies (X-Forwarded-For, RFC 7239 Forwarded).

Anyone can send these headers, so they are believed only from peers the
operator named as proxies (`--trusted-proxies`). Each proxy appends the address
it saw, so the list is read from the right: trusted hops are skipped, and the
first address that is not a trusted proxy is the client. Whatever stands to its
left was written by the client itself and is ignored. The address feeds rate
limits, the sign-in back-off, events and a grant's `last_ip`, so a forged one
must not get through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from keyturn.config import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def _parse_address(text: str) -> Address | None:
    """One hop: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80`, `"[2001:db8::1]"`."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None  # "unknown", an obfuscated identifier (RFC 7239 §6), or garbage
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _forwarded_hops(header: str) -> list[str]:
    """The `for=` values of a Forwarded header, in order."""
    hops = []
    for element in header.split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(value)
    return hops


def client_address(
    peer: str | None,
    headers: Mapping[bytes, bytes],
    trusted: tuple[Network, ...],
    header: str = "x-forwarded-for",
) -> str | None:
    """The address of the client that sent the request to the first trusted proxy.

    Only `header` is read: proxies append to one of the two and pass the other on as
    the client wrote it, so reading both would let the client choose its address.
    """
    if not trusted or peer is None:
        return peer
    nearest = _parse_address(peer)
    if nearest is None or not _trusted(nearest, trusted):
        return peer
    if header == "forwarded":
        hops = _forwarded_hops(headers.get(b"forwarded", b"").decode("latin-1"))
    else:
        hops = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            break  # a proxy we trust passed on something unreadable: stop at that proxy
        nearest = address
        if not _trusted(address, trusted):
            break
    return str(nearest)
