"""Projects and the people in them: lifecycle, members and invitations."""
