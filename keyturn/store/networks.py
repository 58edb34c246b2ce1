"""The network an address belongs to, for telling "the same place" from "elsewhere".

IPv4 addresses are grouped by /24 and IPv6 by /48: a home or mobile connection
moves within such a block, while a different block is (usually) a different
provider or place. The hot path sees IPv4 most: that case is string work.

A grant keeps only its latest address; the network is worked out from it when
read, so the row carries no network column of its own.
"""

from __future__ import annotations

import functools
import ipaddress


def network_of(ip: str | None) -> str | None:
    """`203.0.113.0/24`, `2001:db8:1::/48`, or None for no or an unreadable address."""
    if not ip:
        return None
    if ":" not in ip:
        head, dot, last = ip.rpartition(".")
        if dot and last.isdigit() and head.count(".") == 2:
            return f"{head}.0/24"
        return None
    try:
        return str(ipaddress.IPv6Network(f"{ip}/48", strict=False))
    except ValueError:
        return None


# Parsing an address costs microseconds on every refresh, and a server sees the same
# peers again and again; the cache is bounded, so many peers only make it miss.
@functools.lru_cache(maxsize=4096)
def stored_ip(peer: str | None) -> str | None:
    """The address in its canonical form, or None when `peer` is not an IP address.

    The peer of a request is whatever the server saw: a Unix socket or a test
    client has no address, and PostgreSQL's `inet` refuses such text. An IPv6
    zone (`fe80::1%eth0`) names an interface of the server, not a place, and
    `inet` refuses it too: it is dropped. A dual-stack socket shows an IPv4 client
    as `::ffff:192.0.2.9`; it is stored as the IPv4 address it is, so that its
    network is its /24.
    """
    if not peer:
        return None
    try:
        address = ipaddress.ip_address(peer.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
