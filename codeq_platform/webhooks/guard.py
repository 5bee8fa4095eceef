"""Where a webhook may be sent: only to globally reachable addresses (IANA's special-purpose address
registries, IPv4 and IPv6), never to loopback, private, link-local, metadata, documentation or
reserved ones, nor to IPv6 forms that carry such an IPv4 address, unless the deployment allows
private targets (tests and ``make run`` do; production does not).

``resolve_public`` resolves the host once and returns the addresses the request must connect to,
so a name cannot resolve to a public address when checked and a private one when used (DNS
rebinding): the caller connects to one of these addresses, not to the name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from codeq_platform.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA's IPv4 Special-Purpose Address Registry: every block not marked globally reachable (deprecated
# ones included), with multicast (224.0.0.0/4) beside it. Cloud metadata addresses fall in these
# (169.254.169.254 link-local, 100.100.100.200 shared address space).
_IPV4_NOT_GLOBAL = tuple(ipaddress.IPv4Network(block) for block in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
))  # fmt: skip
# ... except the anycast addresses inside 192.0.0.0/24 that the registry marks globally reachable.
_IPV4_GLOBAL_EXCEPTIONS = frozenset(ipaddress.IPv4Address(a) for a in ("192.0.0.9", "192.0.0.10"))

# IPv6: only global unicast (2000::/3) is routed on the internet, less IANA's IPv6 Special-Purpose
# Address Registry blocks in it that are not globally reachable (Teredo, 2001::/32, has no such mark and
# is refused with the IETF block around it). Forms that carry an IPv4 address (6to4 among them) are
# judged by that address.
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_NOT_GLOBAL = tuple(ipaddress.IPv6Network(block) for block in (
    "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16",
))  # fmt: skip
_IPV6_GLOBAL_EXCEPTIONS = tuple(ipaddress.IPv6Network(block) for block in (
    "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:3::/32", "2001:4:112::/48", "2001:20::/28",
    "2001:30::/28",
))  # fmt: skip
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses (and :: and ::1)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: globally reachable as its IPv4 address
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class BlockedAddress(InvalidInput):
    code = "webhook_address_blocked"


def is_public(address: Address) -> bool:
    """Whether ``address`` is globally reachable, IPv4 carried inside IPv6 judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return address in _IPV4_GLOBAL_EXCEPTIONS or not any(address in block for block in _IPV4_NOT_GLOBAL)
    carried = _carried_ipv4(address)
    if carried is not None:
        return is_public(carried)
    if any(address in block for block in _IPV6_GLOBAL_EXCEPTIONS):
        return True
    return address in _IPV6_GLOBAL_UNICAST and not any(address in block for block in _IPV6_NOT_GLOBAL)


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) or 6to4 address stands
    for: a connection to it may well reach that IPv4 host."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


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
