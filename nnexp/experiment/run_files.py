"""The files a run hands its observer besides numbers: the network's weights and what prediction
needs (`weights.npz`, `model_meta.json`), and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnexp import engine
from nnexp.data import Dataset
from nnexp.experiment.history import HISTORY_ARTIFACT, MetricHistory
from nnexp.experiment.loop import predicted_classes
from nnexp.experiment.observer import RunObserver
from nnexp.experiment.weight_hashes import HASHES_ARTIFACT, HASHES_IN_HISTORY, WeightHashes
from nnexp.record import run_plots
from nnexp.record.model_files import META_ARTIFACT, WEIGHTS_ARTIFACT, write_model_meta


def save_network(observer: RunObserver, model: Any, dataset: Dataset, loss_name: str,
                 folder: Path) -> Path:
    """Give the observer the network's weights and architecture (`weights.npz`) and what
    prediction needs besides them (`model_meta.json`): data only, no code. Returns the weights."""
    weights = folder / WEIGHTS_ARTIFACT
    engine.save_weights(model, weights)
    observer.artifact(weights)
    observer.artifact(write_model_meta(folder / META_ARTIFACT, dataset, loss_name))
    return weights


def save_history(observer: RunObserver, history: MetricHistory, hashes: WeightHashes | None,
                 folder: Path) -> bool:
    """Give the observer `metrics/history.npz`, with `hashes` inside it when given (a sweep's
    child: one upload fewer than their own file). Whether the hashes went with it."""
    path = folder / HISTORY_ARTIFACT
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = hashes.arrays(HASHES_IN_HISTORY) if hashes is not None else None
    observer.artifact(history.save(path, extra), path.parent.name)
    return extra is not None


def save_hashes(observer: RunObserver, hashes: WeightHashes | None, folder: Path) -> None:
    """The weight hashes so far, as the artifact `metrics/weight_hashes.npz`."""
    if hashes is not None:
        path = folder / HASHES_ARTIFACT
        path.parent.mkdir(exist_ok=True)
        observer.artifact(hashes.save(path), "metrics")


def draw_plots(folder: Path, history: MetricHistory, dataset: Dataset, model: Any,
               best_epoch: int, classify: bool, only_loss: bool = False) -> Path:
    """The run's figures: loss curves, gradient norms, a confusion matrix for classes, and the
    first layer's weights as pictures for an image set; the loss curves alone with
    `only_loss` (a sweep's child)."""
    folder.mkdir()
    epochs = history.series("epoch")[1].astype(int)
    per_epoch = {key: (epochs, history.series(key)[1]) for key in ("train/loss", "val/loss")}
    run_plots.loss_curves(per_epoch, folder / "loss_curves.png", best_epoch)
    if only_loss:
        return folder
    run_plots.gradient_norms({k: history.series(k) for k in history.keys()
                              if k.startswith("grad_norm/")}, folder / "gradient_norms.png")
    if classify and dataset.X_test.shape[0]:
        predicted = predicted_classes(model.predict(dataset.X_test))
        run_plots.confusion_matrix(dataset.y_test, predicted, dataset.class_names,
                                   folder / "confusion_matrix.png")
    if dataset.image_shape is not None:
        weights = model.named_parameters()["layer1.weight"]
        run_plots.first_layer_weights(weights, dataset.image_shape,
                                      folder / "first_layer_weights.png")
    return folder
