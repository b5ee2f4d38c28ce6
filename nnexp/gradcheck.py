"""`python -m nnexp.gradcheck`: backprop vs finite differences for the network a config builds.

Takes the same config and overrides as `nnexp.train` and checks the network on the first
`gradcheck.batch` training rows: always on a float64 copy (judged at `gradcheck.tol`), and for
a float32 config also the float32 code path that training runs (judged at max(tol, 1e-3):
float32 rounding alone reaches about 1e-5). Each parameter's error is its worst entry's
|analytic - numeric| over the scale of that tensor's gradient (`engine.gradient_check`); the
row shows that entry and how many entries sit at a kink (a ReLU input exactly 0, where only
one-sided derivatives exist). Exit 0 when every error is below its tolerance, 1 otherwise.
"""

from __future__ import annotations

import sys

import hydra
import numpy as np
from omegaconf import DictConfig

from nnexp import engine
from nnexp.cli import run_cli
from nnexp.config import ConfigError, register_configs, validate
from nnexp.config.paths import conf_dir
from nnexp.experiment.build import build_network, choose_loss, load_data, targets_for

register_configs()

FLOAT32_TOL = 1e-3  # the float32 code path's floor: float32 rounding reaches ~1e-5


def check_config(cfg: DictConfig) -> list[engine.GradientCheck]:
    """The float64 check, then (for a float32 config) the float32 code path's, of the config's
    network on its first training rows."""
    validate(cfg)
    if cfg.gradcheck.batch < 1 or cfg.gradcheck.eps <= 0 or cfg.gradcheck.tol <= 0:
        raise ConfigError("gradcheck: batch must be >= 1, eps and tol > 0")
    dataset = load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    model = build_network(cfg, dataset, loss_name, np.random.default_rng(cfg.seed))
    rows = slice(0, cfg.gradcheck.batch)
    X = dataset.X_train[rows]
    y = targets_for(loss_name, dataset.y_train[rows], cfg.model.dtype)
    loss_fn = engine.make_loss(loss_name)
    precisions = ["float64"] + (["float32"] if model.dtype == np.float32 else [])
    return [engine.gradient_check(model, loss_fn, X, y, eps=cfg.gradcheck.eps, precision=p)
            for p in precisions]


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def gradcheck(cfg: DictConfig) -> None:
    checks = check_config(cfg)
    tols = {"float64": cfg.gradcheck.tol, "float32": max(cfg.gradcheck.tol, FLOAT32_TOL)}
    names = list(checks[0])
    width = max(len(name) for name in [*names, "parameter"])
    judged = ", ".join(f"{c.precision} at {tols[c.precision]:g}" for c in checks)
    columns = "".join(f"  {c.precision + ' error':<13}  status" for c in checks)
    print(f"{'parameter':<{width}}{columns}  worst entry   ({cfg.model.dtype} network, "
          f"{checks[0].rows} rows, eps {cfg.gradcheck.eps:g}; tolerance {judged})")
    for name in names:
        cells = "".join(
            f"  {c[name]:<13.3e}  {'ok' if c[name] < tols[c.precision] else 'FAIL':<6}"
            for c in checks)
        # the entry of whichever check is furthest from passing
        shown = max(checks, key=lambda c: c[name] / tols[c.precision])
        kinks = checks[0].kinks[name]
        note = f"  ({kinks} kink{'s' if kinks > 1 else ''}, judged one-sided)" if kinks else ""
        print(f"{name:<{width}}{cells}  {shown.precision}: {shown.worst[name]}{note}")
    failed = [f"{name} ({c.precision})" if len(checks) > 1 else name
              for c in checks for name in c.failed(tols[c.precision])]
    if failed:
        print(f"gradient check failed for {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print("gradient check passed")


def main() -> None:
    run_cli(gradcheck, "nnexp.gradcheck")


if __name__ == "__main__":
    main()
