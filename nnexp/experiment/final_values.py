"""A run's final values, and which weights they describe.

A run with `train.patience` ends with the weights of its best validation epoch (the loop restores
them), not the last epoch's. Its final train/loss, val/loss and val/accuracy are measured again on
those kept weights and logged at the last step after the epoch's points, so that the run's latest
values (what MLflow's runs table and `search_runs` show), its objective, its logged model and its
test/* all describe the same weights. The last epoch's values stay as `<name>_last_epoch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnexp.config.metric_catalogue import LAST_EPOCH_SUFFIX, kept_metric_names
from nnexp.experiment.history import MetricHistory
from nnexp.experiment.loop import LoopResult, evaluate

Split = tuple[np.ndarray, np.ndarray]  # X, y (targets as the loss takes them)


def final_metrics(loop: LoopResult, history: MetricHistory, model: Any, loss_fn: Any,
                  train: Split, val: Split, *, classify: bool, patience: int
                  ) -> dict[str, float]:
    """The last epoch's values, or with patience those of the weights the model now holds (the
    kept epoch's, when the loop restored them) and the last epoch's under `<name>_last_epoch`,
    both logged to `history` at the last step."""
    final = {k: v for k, v in loop.last.items() if k != "epoch"}
    if not patience:
        return final
    names = kept_metric_names(classify)
    last_epoch = {f"{k}{LAST_EPOCH_SUFFIX}": final[k] for k in names if k in final}
    if loop.kept_epoch is not None:
        measured = {f"val/{k}": v for k, v in evaluate(model, loss_fn, *val, classify).items()}
        measured["train/loss"] = evaluate(model, loss_fn, *train, classify)["loss"]
        kept = {k: measured[k] for k in names}
        history.add_final(kept, loop.steps)
        final.update(kept)
    if last_epoch:
        history.add_many(last_epoch, loop.steps)
        final.update(last_epoch)
    return final
