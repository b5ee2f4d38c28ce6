"""The single exception type of the data module, so callers can catch user mistakes cleanly."""


class DataError(ValueError):
    """A user mistake in data settings or files; the message is one line naming the key or file."""
