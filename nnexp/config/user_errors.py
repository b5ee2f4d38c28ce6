"""User mistakes, as one line each: the error types every room raises for them, and how a
command turns any of them (or Hydra's, OmegaConf's and YAML's) into that line and an exit code."""

from __future__ import annotations

import re

from nnexp.config.paths import group_options

EXIT_USER_ERROR = 2
EXIT_RUN_FAILED = 1
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake the user can fix (config, data, store setting); its message is one line.
    ConfigError, DataError and StoreError derive from it, so one check finds any of them."""


class ConfigError(UserError, ValueError):
    """A user-facing configuration mistake; its message is one line naming the key."""


class UserAbort(BaseException):
    """A user mistake (or a store fault) found where Hydra would swallow an Exception (its
    callbacks); `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_USER_ERROR) -> None:
        super().__init__(message)
        self.code = code


def abort_for(exc: Exception, context: str) -> UserAbort:
    """`exc` as a UserAbort: its one line, or `context` and the error for a bug."""
    message = describe_user_error(exc)
    if message is None:
        return UserAbort(f"{context}: {type(exc).__name__}: {exc}")
    return UserAbort(message)


def describe_user_error(exc: BaseException) -> str | None:
    """A one-line message for a mistake the user can fix, or None if `exc` is not one."""
    import yaml
    from hydra.errors import HydraException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(exc, UserError):
        return str(exc).splitlines()[0]
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_message(exc)
    if isinstance(exc, yaml.YAMLError):
        return _yaml_message(exc)
    if isinstance(exc, OverrideParseException):
        return f"cannot parse override: {_first_line(exc)}"
    if isinstance(exc, HydraException):
        return _hydra_message(exc)
    if isinstance(exc, OSError) and exc.filename and "yaml" in str(exc.filename):
        return f"{exc.filename}: {exc.strerror}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _omegaconf_message(exc: BaseException) -> str:
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from nnexp.config.schema import closest_key, sibling_keys

    key = getattr(exc, "full_key", None)
    text = _first_line(exc)
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)) and key:
        near = closest_key(key)
        section = key.rpartition(".")[0]
        if near and near != key:
            return f"{key}: {text}; did you mean {near}?"
        known = sibling_keys(key)
        return f"{key}: {text}; {section or 'the config'} has: {', '.join(known)}" if known \
            else f"{key}: {text}"
    value = re.match(r"Value '(.*?)' (?:of type '\w+' )?could not be converted to (\w+)", text)
    if value:
        text = f"{value.group(1)!r} is not a valid {value.group(2).lower()}"
    elif "is not a ListConfig" in text:
        text = "expected a list, e.g. [64,32] (use [] for none)"
    elif "Missing mandatory value" in text:
        text = "missing required value (set it on the command line, e.g. key=value)"
    return f"{key}: {text}" if key else text


def _hydra_message(exc: BaseException) -> str:
    from nnexp.config.schema import unknown_key_message

    text = str(exc)
    missing = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    if missing:
        group, option = missing.group(1), missing.group(2)
        allowed = ", ".join(_listed_options(text, group) or group_options(group)) or "(none)"
        return f"{group}: unknown option '{option}'; allowed: {allowed}{_searched(text)}"
    primary = re.search(r"Cannot find primary config '([^']+)'", text)
    if primary:
        return f"primary config '{primary.group(1)}' not found{_searched(text)}"
    folder = re.search(r"config directory '([^']+)'", text)
    if folder and "Primary config directory not found" in text:
        return f"config directory '{folder.group(1)}' not found or not readable"
    unknown = re.search(r"Could not override '([^']+)'", text)
    if unknown:
        key = getattr(exc.__cause__, "full_key", None) or unknown.group(1)
        value = re.search(r"use \+\S+?=(.*)$", text, re.MULTILINE)
        return unknown_key_message(key, value.group(1) if value and key == unknown.group(1)
                                   else None)
    cause = exc.__cause__ or exc.__context__  # Hydra re-raises OmegaConf's errors as text
    if cause is not None:
        inner = describe_user_error(cause)
        if inner:
            own = text.removesuffix(str(cause)).strip()  # Hydra's words around the cause
            return f"{_joined(own)} {inner}" if own and own != text.strip() else inner
    return _joined(text)


def _joined(text: str) -> str:
    """Every line of `text` on one: the first, then the others after a colon, `;` apart
    (Hydra's hints come on the lines after its first)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else text
    return f"{lines[0].rstrip(':')}: " + "; ".join(lines[1:])


def _listed_options(text: str, group: str) -> list[str]:
    """The options Hydra lists under "Available options in '<group>':" (every search path)."""
    block = re.search(rf"Available options in '{re.escape(group)}':\n((?:\t.*\n?)+)", text)
    return [line.strip() for line in block.group(1).splitlines()] if block else []


def _searched(text: str) -> str:
    """A ` (searched: <folders>)` suffix: the config search path from Hydra's message, minus
    Hydra's built-in configs and the schema, so a user sees where their files were looked for."""
    paths = re.findall(r"provider=[^,\n]+, path=(\S+)", text)
    shown = [p.removeprefix("file://") for p in paths
             if p != "pkg://hydra.conf" and not p.startswith(("structured://",
                                                              "pkg://hydra_plugins."))]
    return f" (searched: {', '.join(shown)})" if shown else ""


def _yaml_message(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{mark.name}:{mark.line + 1}" if mark else "a config file"
    return f"{where}: malformed YAML ({getattr(exc, 'problem', None) or _first_line(exc)})"
