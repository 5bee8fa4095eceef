import pytest

from codeq_platform.webhooks.guard import BlockedAddress, resolve_public


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
