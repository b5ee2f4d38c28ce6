"""`python -m nnexp.lr_find`: the learning-rate range test (Leslie Smith) on any config.

    python -m nnexp.lr_find                                  # the default experiment
    python -m nnexp.lr_find optimizer=sgd model.hidden=[128,64] lr_find.steps=200

One short run trains the config's network from its initialisation, with the config's optimizer,
while the learning rate grows exponentially from `lr_find.min_lr` to `lr_find.max_lr` over
`lr_find.steps` steps (the config's `lr` and schedule are not used). Every step's training loss
is recorded with its exponential moving average (`lr_find.smoothing`, bias-corrected); the test
stops early where the loss diverges: the smoothed loss above `lr_find.diverge_factor` times its
best, or a loss that is not finite.

The suggestion is a tenth of the learning rate at the lowest smoothed loss. The loss turns up
past that point, and a tenth keeps clear of it while staying within a factor of ten of the
fastest rate that still learned (Smith's and fastai's rule of thumb). When the smoothed loss
never fell below its start by more than twice its step-to-step noise, its lowest point is
chance: the suggestion is "undetermined", with why (widen the range). The rates grow in log
space, and `lr_find.min_lr`/`max_lr` must lie in 1e-16..1e16 (what float64 trains with). The
steepest descent point is printed too; being the slope of a noisy curve, it moves more from one
seed to the next.

The run (tag `nnexp.lr_find=range_test`) holds the metrics `lr_find/lr`, `lr_find/loss` and
`lr_find/smoothed_loss` at every step, the plot `lr_find/lr_range.png` and the points as tags.
In a sweep, `sweep.skip_lr_above=auto` runs the test once per configuration (its values apart
from lr, seed and schedule) and skips the jobs whose lr is above its divergence point.
"""


from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from nnexp.cli import run_cli
from nnexp.config import register_configs
from nnexp.config.paths import conf_dir
from nnexp.experiment.range_test import PLOT_ARTIFACT
from nnexp.sweeps.lr_limit import run_range_test, without_lr

register_configs()
PROG = "nnexp.lr_find"


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def lr_find(cfg: DictConfig) -> None:
    """Run the range test on the composed config and print what it suggests."""
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    test, run_id = run_range_test(cfg, overrides=overrides,
                                  command=["python", "-m", PROG, *sys.argv[1:]])
    steepest = test.steepest_lr
    print(f"lr range test: {test.lrs.size} steps, lr {test.lrs[0]:.3g} -> {test.lrs[-1]:.3g} "
          f"({cfg.optimizer.name}, batch {cfg.train.batch_size}); stopped: {test.stopped}")
    print(f"  lowest smoothed loss {test.smoothed.min():.4g} at lr {test.min_loss_lr:.3g}"
          + (f"; steepest descent at lr {steepest:.3g}" if steepest is not None else "")
          + (f"; diverged at lr {test.divergence_lr:.3g}" if test.divergence_lr is not None
             else "; no divergence up to lr_find.max_lr"))
    if test.suggested_lr is None:
        print(f"suggested lr: undetermined ({test.undetermined})")
    else:
        print(f"suggested lr: {test.suggested_lr:.2g} (a tenth of the lr at the lowest smoothed "
              "loss: clear of where the loss turns up)")
        print("  " + " ".join(["python", "-m", "nnexp.train", *without_lr(overrides),
                               f"lr={test.suggested_lr:.2g}"]))
    if run_id is not None:
        print(f"run {run_id}: loss against lr in {PLOT_ARTIFACT}")


def main() -> None:
    run_cli(lr_find, PROG)


if __name__ == "__main__":
    main()
