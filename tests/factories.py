"""factory_boy factories of the control plane's models; a test sets only the fields it is about."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from codeq_platform.webhooks.models import WebhookSubscription
from tenants.models import ApiToken, AuditEntry, Membership, Tenant


class UserFactory(DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda tenant: tenant.slug.title())


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    tenant = factory.SubFactory(TenantFactory)
    role = Membership.Role.VIEWER


class ApiTokenFactory(DjangoModelFactory):
    class Meta:
        model = ApiToken

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"token-{n}")
    role = ApiToken.Role.PRODUCER


class WebhookSubscriptionFactory(DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    tenant = factory.SubFactory(TenantFactory)
    url = factory.Sequence(lambda n: f"https://hooks.example.com/codeq/{n}")
    events = factory.LazyFunction(lambda: ["task.completed"])
    secret = factory.Sequence(lambda n: f"whsec_dGVzdC1zZWNyZXQt{n:08d}")


class AuditEntryFactory(DjangoModelFactory):
    class Meta:
        model = AuditEntry

    tenant = factory.SubFactory(TenantFactory)
    actor = "alice"
    action = "dlq.replay"
