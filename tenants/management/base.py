"""The base of the control plane's management commands: tenant lookup and error wording."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from codeq_platform.errors import Conflict, NotFound
from tenants import selectors
from tenants.models import Tenant

CLI_ACTOR = "cli"


class ControlPlaneCommand(BaseCommand):
    """A command with subcommands (``self.handle_<action>``, a hyphen read as ``_``) that reports bad input as
    CommandError."""

    def handle(self, *args, action: str, **options) -> None:
        try:
            getattr(self, f"handle_{action.replace('-', '_')}")(**options)
        except ValidationError as exc:
            raise CommandError(describe(exc)) from None
        except (NotFound, Conflict) as exc:
            raise CommandError(exc.message) from None

    def tenant(self, slug: str) -> Tenant:
        """The tenant called ``slug``, or a CommandError naming it."""
        try:
            return selectors.tenant_by_slug(slug=slug)
        except NotFound:
            raise CommandError(f"Unknown tenant {slug!r}.") from None


def describe(exc: ValidationError) -> str:
    """One line out of a model's validation errors: ``field: message; ...``."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)
