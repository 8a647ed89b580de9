"""API keys of the external API: the key format, admission and rate limits, management, pushed events."""
