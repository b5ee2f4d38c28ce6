"""What can go wrong with a tracking store, as exception types every tracking module shares."""

from nnexp.config.user_errors import UserError


class StoreError(UserError, RuntimeError):
    """The tracking store cannot be used; the message is one line for the user."""


class StoreUnavailable(StoreError):
    """The store does not answer now (a server down or restarting); it may later."""


class StoreFault(StoreError):
    """The store exists but is damaged (not the user's setting): exit 1, not 2."""


__all__ = ["StoreError", "StoreFault", "StoreUnavailable"]
