"""The resolved config as MLflow params: flat dotted keys, YAML text values, within MLflow limits.

Values are written as the config file would spell them (`true`, `null`, `[64, 32]`, exact floats),
so a filter such as `params.tracking.enabled = 'true'` finds what a YAML user expects.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from nnexp.record.redact import redact

MAX_VALUE_LENGTH = 6000  # MLflow 3's limit on a param value
MAX_KEY_LENGTH = 250


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"model": {"hidden": [64, 32]}}` -> `{"model.hidden": "[64, 32]"}`; lists stay whole."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            text = param_text(value)
            if len(text) > MAX_VALUE_LENGTH:
                text = text[: MAX_VALUE_LENGTH - 3] + "..."
            flat[name[:MAX_KEY_LENGTH]] = text
    return flat


def run_params(config: dict[str, Any], choices: dict[str, str], *,
               keep: tuple[str, ...] = ()) -> dict[str, str]:
    """A run's params: the config keys that change its numbers and the config group choices
    under their own names (`optimizer: sgd`, as swept). The bookkeeping sections (`tracking`,
    `sweep`, ... but those in `keep`) are left out: config.yaml, an artifact, holds them."""
    from nnexp.config import BOOKKEEPING_SECTIONS

    numbers = {k: v for k, v in config.items() if k not in BOOKKEEPING_SECTIONS or k in keep}
    return {**flatten(numbers), **choices}


def param_text(value: Any) -> str:
    """One config value as YAML text: `true`/`false`, `null`, repr floats, flow lists; strings
    as they are (a param is text already, and filters compare the bare value)."""
    if isinstance(value, str):
        return value
    return _yaml_scalar(value) if not isinstance(value, list | tuple | dict) else _flow(value)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def _flow(value: Any) -> str:
    """A list or mapping in YAML flow style (`[64, 32]`, `{a: 1}`), quoting strings that need it."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        return value if _plain_in_flow(value) else json.dumps(value, ensure_ascii=False)
    return _yaml_scalar(value)


def _plain_in_flow(text: str) -> bool:
    """True when `text` reads back as the same string inside a flow list, unquoted."""
    if not text or text != text.strip():
        return False
    try:
        return yaml.safe_load(f"[{text}]") == [text]
    except yaml.YAMLError:
        return False


def disagreements(config: dict[str, str], params: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, config.yaml's value, the param's) for every key the two spell differently: a
    record that contradicts itself (an artifact edited after the run). Both are flat texts
    (`flatten`); params cut to MLflow's limit are not compared."""
    found = []
    for key in sorted(set(config) & set(params)):
        value, param = redact(config[key]), params[key]
        if value != param and not (len(param) == MAX_VALUE_LENGTH and param.endswith("...")):
            found.append((key, value, param))
    return found


def describe_disagreements(found: list[tuple[str, str, str]]) -> str:
    """`config.yaml disagrees with the run's params: lr: artifact 0.5, params 0.1` (more keys
    follow after `;`)."""
    return "config.yaml disagrees with the run's params: " + "; ".join(
        f"{key}: artifact {value}, params {param}" for key, value, param in found)
