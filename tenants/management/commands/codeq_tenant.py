"""``codeq_tenant create SLUG [--name NAME] [--shards N]`` and ``codeq_tenant list``."""

from __future__ import annotations

from tenants import selectors, services
from tenants.management.base import ControlPlaneCommand
from tenants.models import MAX_SHARDS


class Command(ControlPlaneCommand):
    help = "Create and list tenants."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a tenant.")
        create.add_argument("slug", help="a-z, 0-9 and '-', 1-63 characters; part of every queue key")
        create.add_argument("--name", default="", help="Display name (default: the slug)")
        create.add_argument("--shards", type=int, default=1, help=f"KV shards, 1-{MAX_SHARDS} (default 1)")
        actions.add_parser("list", help="List tenants.")

    def handle_create(self, *, slug: str, name: str, shards: int, **options) -> None:
        tenant = services.create_tenant(slug=slug, name=name, shards=shards)
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}, {tenant.shards} shard(s)).")

    def handle_list(self, **options) -> None:
        tenants = list(selectors.all_tenants())
        if not tenants:
            self.stdout.write("No tenants.")
            return
        self.stdout.write(f"{'SLUG':<24} {'STATUS':<9} {'SHARDS':>6}  NAME")
        for tenant in tenants:
            status = "active" if tenant.active else "inactive"
            self.stdout.write(f"{tenant.slug:<24} {status:<9} {tenant.shards:>6}  {tenant.name}")
