"""Who the client is and whether it came over HTTPS, behind a reverse proxy (both web doors).

A proxy's ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection
comes from an address in ``MESHKEYS_TRUSTED_PROXIES`` (IP addresses or CIDR networks): anyone
else could write them. From a trusted peer, the client is the right-most ``X-Forwarded-For``
entry that is not itself a trusted proxy (the left part of the header is the client's to write).
The login throttle and the audit log's ``client_ip`` use this address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: Sequence[str]) -> tuple[Network, ...]:
    """``10.0.0.5``, ``10.0.0.0/8``, ``::1`` -> networks; ValueError names a bad entry."""
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def trusted(peer: str | None, proxies: Sequence[Network]) -> bool:
    address = _address(peer)
    return address is not None and any(address in network for network in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]
) -> str | None:
    """The client's address: ``peer``, unless ``peer`` is a trusted proxy that forwarded one."""
    if not trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:
            return peer  # a garbled header: keep the address we know
        if not trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def came_over_https(
    scheme: str | None, peer: str | None, forwarded_proto: str | None, proxies: Sequence[Network]
) -> bool:
    """Served over HTTPS, directly or through a trusted proxy that says so."""
    if scheme in ("https", "wss"):
        return True
    proto = (forwarded_proto or "").split(",")[0].strip().lower()
    return proto == "https" and trusted(peer, proxies)
