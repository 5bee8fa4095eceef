"""The control plane: tenants, members, API tokens, webhook subscriptions, audit trail and their admin CLI."""
