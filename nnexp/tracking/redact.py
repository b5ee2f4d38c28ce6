"""Credentials in URIs (`http://user:pass@host`, `postgresql://user:pass@db/x`) are masked before
anything is recorded (params, tags, run names, artifacts) or printed.

A tracking URI may carry a password; a run's record is shared far more widely than the secret.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://userinfo@ : userinfo runs to the authority's last '@' (an unescaped '@' in a password
# still hides it all) and stops at '/', '?', '#' or white space, where the authority ends.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]*)@")


def _mask(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    # with a password the user name stays (it says which account); alone it is often a token
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact(text: str) -> str:
    """`text` with the password of every URI in it masked: `http://user:***@host`."""
    return _USERINFO.sub(_mask, text) if "@" in text else text


def redact_data(value: Any) -> Any:
    """`redact` applied to every string in nested dicts and lists (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v) for v in value)
    return value


def split_credentials(uri: str) -> tuple[str, str | None]:
    """(`uri` without its user:password, the `Authorization: Basic` value they make, or None)."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username is None:
        return uri, None
    host = parts.netloc.rpartition("@")[2]
    token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return (urlunsplit(parts._replace(netloc=host)),
            "Basic " + base64.b64encode(token).decode("ascii"))
