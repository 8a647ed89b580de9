"""Inbound webhooks: receipt, the inbox processor and its handlers, admin views, signature schemes, the autograder."""
