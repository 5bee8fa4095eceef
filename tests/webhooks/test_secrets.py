import time

from standardwebhooks.webhooks import Webhook

from codeq_platform.webhooks.secrets import rotate_tenant_secret, tenant_secrets
from codeq_platform.webhooks.signing import signature_headers
from tenants.models import AuditEntry

BODY = b'{"eventType":"render","available":true}'


def signed(secrets):
    return signature_headers(BODY, secrets=secrets, message_id="msg_1", timestamp=int(time.time()))


def test_a_tenant_gets_one_secret_on_first_use_and_keeps_it(tenant):
    first = tenant_secrets(tenant.pk)
    assert len(first) == 1 and first[0].startswith("whsec_")
    assert tenant_secrets(tenant.pk) == first


def test_tenants_have_different_secrets(tenant, foreign_tenant):
    assert tenant_secrets(tenant.pk) != tenant_secrets(foreign_tenant.pk)


def test_after_rotation_both_secrets_sign_during_the_grace_period(tenant):
    [old] = tenant_secrets(tenant.pk)
    row = rotate_tenant_secret(tenant=tenant, grace_seconds=3600, actor="alice")
    assert tenant_secrets(tenant.pk) == [row.secret, old]
    headers = signed(tenant_secrets(tenant.pk))
    assert Webhook(old).verify(BODY, headers) and Webhook(row.secret).verify(BODY, headers)
    assert AuditEntry.objects.filter(tenant=tenant, action="webhook.rotate_tenant_secret", actor="alice").exists()


def test_rotation_without_grace_drops_the_old_secret_at_once(tenant):
    tenant_secrets(tenant.pk)
    row = rotate_tenant_secret(tenant=tenant, grace_seconds=0)
    assert tenant_secrets(tenant.pk) == [row.secret]
