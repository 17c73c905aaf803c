"""Errors a user can fix (bad data, a missing model, a wrong option).

The CLI prints them as one line and exits non-zero; the job framework shows them as the
job's error; services turn them into 4xx responses. Anything else is a bug and keeps its
traceback.
"""


class UserError(Exception):
    """Bad input or configuration; the message says what and where (file, row, field)."""
