"""The resolved config as MLflow params: flat dotted keys, values within MLflow's limits."""

from __future__ import annotations

from typing import Any

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
            text = str(value)
            if len(text) > MAX_VALUE_LENGTH:
                text = text[: MAX_VALUE_LENGTH - 3] + "..."
            flat[name[:MAX_KEY_LENGTH]] = text
    return flat
