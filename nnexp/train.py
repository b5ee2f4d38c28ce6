"""`python -m nnexp.train`: compose a config with Hydra, train it, record it in MLflow.

    python -m nnexp.train                       # one run with the defaults (digits MLP)
    python -m nnexp.train lr=0.1,0.01 -m        # a sweep: one child run per job
    nnexp-train ...                             # the same, as an installed command
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from nnexp.cli import errors_exit, main_entry, run_cli
from nnexp.config import register_configs
from nnexp.config.paths import conf_dir
from nnexp.record.redact import redact
from nnexp.sweeps.job import anchor_paths, hydra_job
from nnexp.sweeps.naming import PARENT_RUN_ENV, SWEPT_KEYS_ENV, child_run_name

register_configs()
PROG = "nnexp.train"
MULTIRUN_FLAGS = ("-m", "--multirun")


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def train(cfg: DictConfig) -> float:
    """Hydra's task function: one job = one MLflow run; returns the objective for sweepers."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    overrides = list(hc.overrides.task)
    swept = os.environ.get(SWEPT_KEYS_ENV, "").split(",") if multirun else None
    name = redact(cfg.tracking.run_name or child_run_name(overrides, swept))  # it is printed
    hydra_dir = Path(hc.runtime.output_dir) / (hc.output_subdir or ".hydra")
    parent = os.environ.get(PARENT_RUN_ENV) if multirun else None
    # A single run exits here with one line (Hydra would print its own banner first); in a
    # sweep the error goes back to Hydra so the other jobs still run.
    with nullcontext() if multirun else errors_exit(PROG):
        anchor_paths(cfg, Path(hc.runtime.cwd))
        return hydra_job(cfg, name, overrides, parent, hydra_dir, multirun,
                         ["python", "-m", "nnexp.train", *sys.argv[1:]])


def multirun_first(args: list[str]) -> list[str]:
    """`lr=0.1,0.01 -m train.epochs=2` -> `-m lr=0.1,0.01 train.epochs=2`: Hydra's parser takes
    flags only before the overrides; users put -m/--multirun anywhere."""
    flags = [a for a in args if a in MULTIRUN_FLAGS]
    return [*flags, *(a for a in args if a not in MULTIRUN_FLAGS)]


def multirun_hint(exc: BaseException) -> str:
    """nnexp's advice after Hydra's when a value list was given without -m: the command again,
    with -m, as the shell (bash or zsh) takes it; '' for any other mistake."""
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import ConfigCompositionException

    args = sys.argv[1:]
    if not isinstance(exc, ConfigCompositionException) or any(a in MULTIRUN_FLAGS for a in args):
        return ""
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if "=" in a
                                                           and not a.startswith("-")])
    except Exception:  # noqa: BLE001 - a malformed override is Hydra's message alone
        return ""
    if not any(o.is_sweep_override() and not o.is_hydra_override() for o in parsed):
        return ""
    return f" (nnexp: -m runs a sweep, one job per value: python -m {PROG} -m {shlex.join(args)})"


def main() -> None:
    """The command, in-process (tests): errors exit with one line and a code."""
    sys.argv[1:] = multirun_first(sys.argv[1:])
    run_cli(train, PROG, multirun_hint)


def console_main() -> None:
    """`python -m nnexp.train` and the `nnexp-train` command: `main`, then a fast exit."""
    sys.argv[1:] = multirun_first(sys.argv[1:])
    main_entry(train, PROG, multirun_hint)


if __name__ == "__main__":
    console_main()
