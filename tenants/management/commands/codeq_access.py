"""``codeq_access unlock|sign-out|reset-2fa|prune``: the console's access, from the command line.

For when nobody can sign in to do it on the console's access page: a locked-out last staff account, a
lost authenticator. Every action but pruning is written to the access log, by ``cli``.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from tenants import second_factor, services
from tenants.management.base import CLI_ACTOR, ControlPlaneCommand
from tenants.services import Client


class Command(ControlPlaneCommand):
    help = "Unlock sign-ins, sign a user out everywhere, reset a second factor, prune the access log."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        unlock = actions.add_parser("unlock", help="Lift a sign-in lockout and forget its failures.")
        unlock.add_argument("--user", default="", help="Username")
        unlock.add_argument("--address", default="", help="Client IP address")
        sign_out = actions.add_parser("sign-out", help="End every session of a user and close their live pages.")
        sign_out.add_argument("--user", required=True, help="Username")
        reset = actions.add_parser("reset-2fa", help="Remove a user's authenticator and recovery codes.")
        reset.add_argument("--user", required=True, help="Username")
        prune = actions.add_parser("prune", help="Delete access log entries older than some days.")
        prune.add_argument("--days", type=int, required=True, help="Keep this many days")

    def handle_unlock(self, *, user: str, address: str, **options) -> None:
        cleared = services.unlock_sign_in(username=user, ip_address=address, actor=CLI_ACTOR)
        self.stdout.write(f"Unlocked {' from '.join(filter(None, (user, address)))}: {cleared} record(s) cleared.")

    def handle_sign_out(self, *, user: str, **options) -> None:
        services.sign_out_everywhere(user=self._user(user), actor=CLI_ACTOR, reason="from the command line")
        self.stdout.write(f"Signed {user} out everywhere.")

    def handle_reset_2fa(self, *, user: str, **options) -> None:
        second_factor.remove(user=self._user(user), client=Client(), actor=CLI_ACTOR)
        self.stdout.write(f"Removed {user}'s second factor; they set up a new one when they next sign in.")

    def handle_prune(self, *, days: int, **options) -> None:
        if days < 1:
            raise CommandError("Keep at least one day.")
        deleted = services.prune_access_log(older_than=timedelta(days=days))
        self.stdout.write(f"Deleted {deleted} access log entr{'y' if deleted == 1 else 'ies'}.")

    def _user(self, username: str):
        users = get_user_model()
        try:
            return users.objects.get(**{users.USERNAME_FIELD: username})
        except users.DoesNotExist:
            raise CommandError(f"Unknown user {username!r}.") from None
