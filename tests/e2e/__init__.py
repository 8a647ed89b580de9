"""End-to-end tests of the admin UI in headless Chromium against the real server and database."""
