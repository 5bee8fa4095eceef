"""``manage.py codeq_access``: unlock, sign out, reset a second factor and prune, when nobody can sign in."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tenants import second_factor, selectors
from tenants.models import AccessEvent
from tenants.services import Client, record_access
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("codeq_access", *args, stdout=out)
    return out.getvalue()


def failures(username: str, address: str, count: int) -> None:
    AccessAttempt.objects.create(username=username, ip_address=address, user_agent="curl/8", failures_since_start=count,
                                 get_data="", post_data="", http_accept="", path_info="/dashboard/login/")  # fmt: skip


def test_unlock_forgets_a_username_and_addresses_failures():
    failures("sam", "203.0.113.7", 10)
    failures("ada", "198.51.100.2", 10)

    assert "Unlocked sam: 1 record(s) cleared." in run("unlock", "--user", "sam")
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["ada"]
    assert AccessEvent.objects.get(kind="login.unlock").actor == "cli"
    with pytest.raises(CommandError, match="Name a username or an address"):
        run("unlock")


def test_sign_out_moves_the_users_generation_on():
    user = UserFactory(username="sam")

    assert "Signed sam out everywhere." in run("sign-out", "--user", "sam")
    assert selectors.sign_in_generation(user_id=user.pk) == 1
    with pytest.raises(CommandError, match="Unknown user 'nobody'"):
        run("sign-out", "--user", "nobody")


def test_reset_2fa_removes_the_authenticator_and_recovery_codes():
    user = UserFactory(username="sam")
    device = second_factor.pending_authenticator(user)
    device.confirmed = True
    device.save()
    second_factor.new_recovery_codes(user=user, client=Client())

    run("reset-2fa", "--user", "sam")

    assert not second_factor.is_enrolled(user) and second_factor.recovery_codes_left(user) == 0
    assert AccessEvent.objects.get(kind="2fa.removed").actor == "cli"


def test_prune_deletes_entries_older_than_the_days_kept():
    old = record_access(kind="login", username="sam")
    AccessEvent.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=91))
    record_access(kind="login", username="ada")

    assert "Deleted 1 access log entry." in run("prune", "--days", "90")
    assert list(AccessEvent.objects.values_list("username", flat=True)) == ["ada"]
