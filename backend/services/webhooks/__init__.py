"""Outbound webhooks: subscriptions, the event outbox, the delivery engine, signing and the SSRF policy."""
