"""People: local accounts, sign-in and sessions, organizations and their members, invitations."""
