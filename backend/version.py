"""The version the product reports (User-Agent of deliveries, OpenAPI, Sentry releases)."""

__version__ = "0.1.0"
