"""The operator dashboard: server-rendered pages per tenant and a websocket for live queue stats."""
