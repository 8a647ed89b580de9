"""People: local accounts, sign-in and sessions, organizations and their members, invitations.

users: accounts, profiles and passwords; signin: password sign-in and its throttling; sessions:
browser sessions; resets: password reset tokens; password_changes: changing or resetting a
password; organizations; invitations; mail: what they email.
"""
