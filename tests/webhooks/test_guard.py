"""The address guard of webhooks and worker wake-ups: only globally reachable addresses pass."""

import ipaddress

import pytest

from codeq_platform.webhooks.guard import BlockedAddress, is_public, resolve_public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://192.168.1.20/hook",
    ],
)
def test_private_loopback_and_metadata_targets_are_refused(url):
    with pytest.raises(BlockedAddress) as refused:
        resolve_public(url, allow_private=False)
    assert refused.value.field == "url"


def test_private_targets_pass_when_the_deployment_allows_them():
    assert resolve_public("http://127.0.0.1:8080/hook", allow_private=True) == ["127.0.0.1"]


def test_a_public_address_passes_and_is_what_the_request_must_connect_to():
    assert resolve_public("https://93.184.215.14/hook", allow_private=False) == ["93.184.215.14"]


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "https://no-such-host.invalid/x"])
def test_unusable_urls_are_refused(url):
    with pytest.raises(BlockedAddress):
        resolve_public(url, allow_private=False)


# IANA IPv4 Special-Purpose Address Registry (and multicast): block, globally reachable. "N/A" (the
# deprecated 6to4 relay anycast) counts as not reachable.
IPV4_REGISTRY = [
    ("0.0.0.0/8", False), ("0.0.0.0/32", False), ("10.0.0.0/8", False), ("100.64.0.0/10", False),
    ("127.0.0.0/8", False), ("169.254.0.0/16", False), ("172.16.0.0/12", False), ("192.0.0.0/24", False),
    ("192.0.0.0/29", False), ("192.0.0.8/32", False), ("192.0.0.9/32", True), ("192.0.0.10/32", True),
    ("192.0.0.170/32", False), ("192.0.0.171/32", False), ("192.0.2.0/24", False), ("192.31.196.0/24", True),
    ("192.52.193.0/24", True), ("192.88.99.0/24", False), ("192.168.0.0/16", False), ("192.175.48.0/24", True),
    ("198.18.0.0/15", False), ("198.51.100.0/24", False), ("203.0.113.0/24", False), ("240.0.0.0/4", False),
    ("255.255.255.255/32", False), ("224.0.0.0/4", False),
]  # fmt: skip
# IANA IPv6 Special-Purpose Address Registry, the same way; the forms carrying IPv4 (IPv4-mapped,
# NAT64 64:ff9b::/96, 6to4) are judged by the IPv4 address they carry, tested below.
IPV6_REGISTRY = [
    ("::1/128", False), ("::/128", False), ("64:ff9b:1::/48", False), ("100::/64", False),
    ("100:0:0:1::/64", False), ("2001::/23", False), ("2001::/32", False), ("2001:1::1/128", True),
    ("2001:1::2/128", True), ("2001:1::3/128", True), ("2001:2::/48", False), ("2001:3::/32", True),
    ("2001:4:112::/48", True), ("2001:10::/28", False), ("2001:20::/28", True), ("2001:30::/28", True),
    ("2001:db8::/32", False), ("2620:4f:8000::/48", True), ("3fff::/20", False), ("5f00::/16", False),
    ("fc00::/7", False), ("fe80::/10", False), ("fec0::/10", False), ("ff00::/8", False),
]  # fmt: skip
PUBLIC_IPV4 = ["93.184.215.14", "8.8.8.8", "1.1.1.1"]


def _edges(block: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    network = ipaddress.ip_network(block)
    return [network.network_address, network.broadcast_address]


@pytest.mark.parametrize(("block", "reachable"), IPV4_REGISTRY + IPV6_REGISTRY)
def test_the_guard_follows_ianas_special_purpose_registries(block, reachable):
    for address in _edges(block):
        assert is_public(address) is reachable, address


@pytest.mark.parametrize("block", [block for block, reachable in IPV4_REGISTRY if not reachable])
def test_ipv4_carried_in_ipv6_is_judged_as_the_ipv4_address(block):
    for v4 in _edges(block):
        for carried in (f"::ffff:{v4}", f"::{v4}", f"64:ff9b::{v4}", f"2002:{int(v4) >> 16:x}:{int(v4) & 0xFFFF:x}::1"):
            assert not is_public(ipaddress.ip_address(carried)), carried


@pytest.mark.parametrize("v4", PUBLIC_IPV4)
def test_public_addresses_pass_in_every_form(v4):
    number = int(ipaddress.IPv4Address(v4))
    for address in (v4, f"::ffff:{v4}", f"64:ff9b::{v4}", f"2002:{number >> 16:x}:{number & 0xFFFF:x}::1",
                    "2606:4700:4700::1111", "2a00:1450:4001:81b::200e"):  # fmt: skip
        assert is_public(ipaddress.ip_address(address)), address


@pytest.mark.parametrize("url", [
    "http://[::a9fe:a9fe]/latest/meta-data/",  # IPv4-compatible 169.254.169.254
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",  # 6to4
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://192.0.0.192/hook",  # IETF protocol assignments
    "http://100.100.100.200/latest/meta-data/",  # shared address space (a cloud's metadata service)
])  # fmt: skip
def test_metadata_and_internal_addresses_in_any_disguise_are_refused(url):
    with pytest.raises(BlockedAddress):
        resolve_public(url, allow_private=False)
