"""Fixtures of the dashboard suites: a fresh KV prefix (queues, history, channel layer), members per role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from codeq_platform import kv
from codeq_platform.engine import Engine
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(settings) -> Iterator[str]:
    """Each test's queue keys and channel-layer messages live under their own prefix, deleted afterwards."""
    prefix = f"cqdash{uuid.uuid4().hex[:10]}"
    settings.CODEQ_KV_PREFIX = prefix
    layer = django_settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": f"{prefix}:ws"}}}
    store_url = django_settings.CODEQ_KV_URL  # a test may point the settings at a store that is down
    kv.reset()
    yield prefix
    kv.reset()
    client = redis.Redis.from_url(store_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def queues(_fresh_kv_prefix) -> Engine:
    """The engine the dashboard reads, to put tasks where the pages will find them."""
    return kv.sync_engine()


@pytest.fixture
def member_client(tenant) -> Callable[..., Client]:
    """``member_client("operator")``: a browser session of a new user with that role in ``tenant``."""

    def make(role: str = "viewer", tenant=tenant) -> Client:
        membership = MembershipFactory(tenant=tenant, role=role)
        client = Client()
        client.force_login(membership.user)
        return client

    return make


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="platform-operator", is_staff=True))
    return client
