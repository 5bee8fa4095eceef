"""Outbound webhooks: signing and the address guard (delivery and dispatch build on these)."""
