"""The network an address belongs to, for telling "the same place" from "elsewhere".

IPv4 addresses are grouped by /24 and IPv6 by /48: a home or mobile connection
moves within such a block, while a different block is (usually) a different
provider or place. The hot path sees IPv4 most: that case is string work.
"""

from __future__ import annotations

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
