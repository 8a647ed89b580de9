"""Inbound webhooks: the durable inbox, signature schemes, and the autograder's grades."""
