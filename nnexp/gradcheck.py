"""`python -m nnexp.gradcheck`: backprop vs finite differences for the network a config builds.

Takes the same config and overrides as `nnexp.train`; checks a small batch in float64 and
prints each parameter's relative error. Exit 0 when all are below `gradcheck.tol`.
"""

from __future__ import annotations

import sys

import hydra
import numpy as np
from omegaconf import DictConfig, open_dict

from nnexp import engine
from nnexp.cli import run_cli
from nnexp.config import ConfigError, register_configs, validate
from nnexp.experiment import build_network, choose_loss, load_data, targets_for
from nnexp.paths import conf_dir

register_configs()


def check_config(cfg: DictConfig) -> dict[str, float]:
    """Relative error per named parameter for the config's network on its first training rows."""
    with open_dict(cfg):
        cfg.model.dtype = "float64"
    validate(cfg)
    if cfg.gradcheck.batch < 1 or cfg.gradcheck.eps <= 0 or cfg.gradcheck.tol <= 0:
        raise ConfigError("gradcheck: batch must be >= 1, eps and tol > 0")
    dataset = load_data(cfg)
    loss_name = choose_loss(cfg, dataset)
    model = build_network(cfg, dataset, loss_name, np.random.default_rng(cfg.seed))
    rows = slice(0, cfg.gradcheck.batch)
    y = targets_for(loss_name, dataset.y_train[rows], "float64")
    return engine.gradient_check(model, engine.make_loss(loss_name), dataset.X_train[rows], y,
                                 eps=cfg.gradcheck.eps)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def gradcheck(cfg: DictConfig) -> None:
    errors = check_config(cfg)
    tol = cfg.gradcheck.tol
    width = max(len(name) for name in errors)
    print(f"{'parameter':<{width}}  relative error  (tolerance {tol:g})")
    for name, error in errors.items():
        print(f"{name:<{width}}  {error:.3e}  {'ok' if error < tol else 'FAIL'}")
    failed = [name for name, error in errors.items() if not error < tol]
    if failed:
        print(f"gradient check failed for {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)
    print("gradient check passed")


def main() -> None:
    run_cli(gradcheck, "nnexp.gradcheck")


if __name__ == "__main__":
    main()
