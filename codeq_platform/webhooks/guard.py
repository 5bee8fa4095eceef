"""Where a webhook may be sent: never to loopback, private, link-local or metadata addresses unless
the deployment allows private targets (tests and ``make run`` do; production does not).

``resolve_public`` resolves the host once and returns the addresses the request must connect to,
so a name cannot resolve to a public address when checked and a private one when used (DNS
rebinding): the caller connects to one of these addresses, not to the name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from codeq_platform.errors import InvalidInput

METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class BlockedAddress(InvalidInput):
    code = "webhook_address_blocked"


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and address not in METADATA and not address.is_multicast


def resolve_public(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, all of which may be connected to; raises
    BlockedAddress naming the reason otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range, an unclosed IPv6 bracket: the attempt fails, it must not raise
        raise BlockedAddress("webhook url is not a valid http(s) URL", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress("webhook url must be http(s) with a host", field="url")
    return public_addresses(parts.hostname, port, allow_private=allow_private)


def public_addresses(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses ``host`` resolves to, refused as a whole if any is not public (unless allowed):
    one private answer among public ones is how a rebinding attack would slip through."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise BlockedAddress(f"cannot resolve {host}", field="url") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for raw in addresses:
            if not is_public(ipaddress.ip_address(raw)):
                raise BlockedAddress(f"{host} resolves to a non-public address ({raw})", field="url")
    return addresses
