"""What can go wrong with a tracking store, as exception types every tracking module shares."""

import errno

from nnexp.config.user_errors import UserError

# a write the disk cannot take: full, over the user's quota, or over the process's file size limit
NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
# SQLite's words for the same: SQLITE_FULL, and SQLITE_IOERR_WRITE, which it reports for EFBIG
NO_ROOM_WORDS = ("database or disk is full", "disk I/O error", "No space left on device",
                 "File too large", "Disk quota exceeded")


class StoreError(UserError, RuntimeError):
    """The tracking store cannot be used; the message is one line for the user."""


class StoreUnavailable(StoreError):
    """The store does not answer now (a server down or restarting); it may later."""


class StoreFault(StoreError):
    """The store exists but is damaged (not the user's setting): exit 1, not 2."""


class StoreFull(StoreFault):
    """The store's disk cannot take a write (full, a quota, a file size limit): not transient
    like a lock, so never waited for."""


def no_room(exc: BaseException) -> str | None:
    """The first line of the error in `exc` (or what it wraps) saying a disk could not take a
    write, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):  # SQLAlchemy's driver error
            if isinstance(candidate, OSError) and candidate.errno in NO_ROOM_ERRNOS:
                return f"{type(candidate).__name__}: {candidate.strerror or candidate}"
            text = str(candidate) if candidate is not None else ""
            if any(words in text for words in NO_ROOM_WORDS):
                return text.splitlines()[0]
        current = current.__cause__ or current.__context__
    return None


__all__ = ["StoreError", "StoreFault", "StoreFull", "StoreUnavailable", "no_room"]
