"""``codeq_member add|remove --tenant SLUG --user USERNAME [--role viewer|operator|admin]``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from tenants import members, selectors, services
from tenants.management.base import CLI_ACTOR, ControlPlaneCommand
from tenants.models import Membership


class Command(ControlPlaneCommand):
    help = "Give dashboard users a role in a tenant, or take it away."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Add a member, or change their role.")
        add.add_argument("--tenant", required=True, help="Tenant slug")
        add.add_argument("--user", required=True, help="Username")
        add.add_argument("--role", required=True, choices=Membership.Role.values)
        remove = actions.add_parser("remove", help="Remove a member.")
        remove.add_argument("--tenant", required=True, help="Tenant slug")
        remove.add_argument("--user", required=True, help="Username")

    def handle_add(self, *, tenant: str, user: str, role: str, **options) -> None:
        found, account = self.tenant(tenant), self._user(user)
        existing = selectors.membership_for(tenant=found, user=account)
        if existing is None:
            membership = services.add_member(tenant=found, user=account, role=role, actor=CLI_ACTOR)
        else:  # a role change keeps the tenant's last admin, as in the console
            membership = members.change_role(tenant=found, membership_id=existing.pk, role=role, actor=CLI_ACTOR)
        self.stdout.write(f"{user} is {membership.role} of tenant {tenant}.")

    def handle_remove(self, *, tenant: str, user: str, **options) -> None:
        found = self.tenant(tenant)
        existing = selectors.membership_for(tenant=found, user=self._user(user))
        if existing is None:
            raise CommandError(f"{user} is not a member of tenant {tenant}.")
        members.remove(tenant=found, membership_id=existing.pk, actor=CLI_ACTOR)
        self.stdout.write(f"Removed {user} from tenant {tenant}.")

    def _user(self, username: str):
        users = get_user_model()
        try:
            return users.objects.get(**{users.USERNAME_FIELD: username})
        except users.DoesNotExist:
            raise CommandError(f"Unknown user {username!r}.") from None
