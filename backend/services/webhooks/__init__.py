"""Outbound webhooks: subscriptions, the event outbox, the delivery engine, signing and the SSRF policy.

events: the catalog and emit_event; subscriptions: what admins manage; engine (with dispatcher,
retry, http, resolver, settings): sending; signing; ssrf; retention.
"""
