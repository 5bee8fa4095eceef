"""``codeq_token issue|list|revoke``: API tokens. A bearer token is printed once, when issued."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from codeq_platform.errors import NotFound
from tenants import selectors, services
from tenants.management.base import CLI_ACTOR, ControlPlaneCommand
from tenants.models import ApiToken


class Command(ControlPlaneCommand):
    help = "Issue, list and revoke a tenant's API tokens."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        issue = actions.add_parser("issue", help="Issue a token and print its bearer (shown only once).")
        issue.add_argument("--tenant", required=True, help="Tenant slug")
        issue.add_argument("--role", required=True, choices=ApiToken.Role.values)
        issue.add_argument("--name", default="", help="A label for people (default: the role)")
        issue.add_argument("--expires-in", type=int, metavar="DAYS", help="Lifetime in days (default: none)")
        issue.add_argument("--json", dest="as_json", action="store_true", help="Print a JSON object instead")
        listing = actions.add_parser("list", help="List a tenant's tokens (never their bearers).")
        listing.add_argument("--tenant", required=True, help="Tenant slug")
        listing.add_argument("--json", dest="as_json", action="store_true", help="Print a JSON array instead")
        revoke = actions.add_parser("revoke", help="Revoke a token; it is refused from the next request on.")
        revoke.add_argument("token_id", metavar="ID", type=int, help="Token id (see `list`)")

    def handle_issue(self, *, tenant: str, role: str, name: str, expires_in, as_json: bool, **options) -> None:
        issued = services.issue_token(
            tenant=self.tenant(tenant),
            name=name or role,
            role=role,
            expires_in_days=expires_in,
            actor=CLI_ACTOR,
        )
        token = issued.token_row
        if as_json:
            self.stdout.write(_dumps({**self._describe(token), "token": issued.bearer}))
            return
        self.stderr.write(
            f"Issued {token.role} token {token.name!r} (id {token.pk}) for tenant {tenant}; "
            "this is the only time its bearer is shown:"
        )
        self.stdout.write(issued.bearer)

    def handle_list(self, *, tenant: str, as_json: bool, **options) -> None:
        tokens = list(selectors.tokens_for(tenant=self.tenant(tenant)))
        if as_json:
            self.stdout.write(_dumps([self._describe(token) for token in tokens]))
            return
        if not tokens:
            self.stdout.write(f"Tenant {tenant} has no tokens.")
            return
        self.stdout.write(f"{'ID':>6}  {'ROLE':<8} {'STATUS':<8} {'EXPIRES':<20} {'LAST USED':<20} NAME")
        for token in tokens:
            expires = f"{token.expires_at:%Y-%m-%d %H:%M}" if token.expires_at else "never"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(
                f"{token.pk:>6}  {token.role:<8} {token.status():<8} {expires:<20} {used:<20} {token.name}"
            )

    def handle_revoke(self, *, token_id: int, **options) -> None:
        try:
            token = services.revoke_token(token_id=token_id, actor=CLI_ACTOR)
        except NotFound:
            raise CommandError(f"Unknown token id {token_id}.") from None
        self.stdout.write(f"Revoked token {token.pk} ({token.name!r}) of tenant {token.tenant.slug}.")

    def _describe(self, token: ApiToken) -> dict:
        return {
            "id": token.pk,
            "tenant": token.tenant.slug,
            "name": token.name,
            "role": token.role,
            "status": token.status(),
            "createdAt": _iso(token.created),
            "expiresAt": _iso(token.expires_at),
            "lastUsedAt": _iso(token.last_used_at),
            "revokedAt": _iso(token.revoked_at),
        }


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def _dumps(value) -> str:
    return json.dumps(value, indent=2)
