"""The single exception type of the data module, so callers can catch user mistakes cleanly."""

from nnexp.config.user_errors import UserError


class DataError(UserError, ValueError):
    """A user mistake in data settings or files; the message is one line naming the key or file."""
