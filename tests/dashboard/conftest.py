"""Fixtures of the dashboard suites: a fresh KV prefix (queues, history, channel layer), members per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from codeq_platform.base import kv
from codeq_platform.engine import Engine
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix


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
