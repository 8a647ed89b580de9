"""What every domain uses: the audit log, pagination, Postgres rate limits, the secret box, password hashing, mail."""
