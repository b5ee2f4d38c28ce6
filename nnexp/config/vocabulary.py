"""The names a user may choose, in one place: the config's checks, the data loaders and the error
messages all read them here. Engine names (activations, optimizers, ...) belong to the engine and
are handed on from it."""

from __future__ import annotations

from nnexp.engine import ACTIVATIONS, DTYPES, INITIALISERS, LOSSES, OPTIMIZERS, SCHEDULES

DATASETS = ("digits", "iris", "wine", "breast_cancer", "moons", "circles", "xor", "line", "images")
REGRESSION_DATASETS = ("line",)  # the others are classification sets
IMAGE_MODES = ("L", "RGB")
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm",
                    ".tif", ".tiff", ".webp")
SWEEP_DIRECTIONS = ("minimize", "maximize")
PRUNE_RULES = ("median", "asha")  # sweep.prune (nnexp.sweeps.pruning_rules)
CLASSIFICATION_LOSSES = ("cross_entropy", "bce")
REGRESSION_LOSSES = ("mse", "mae")

__all__ = ["ACTIVATIONS", "CLASSIFICATION_LOSSES", "DATASETS", "DTYPES", "IMAGE_EXTENSIONS",
           "IMAGE_MODES", "INITIALISERS", "LOSSES", "OPTIMIZERS", "PRUNE_RULES",
           "REGRESSION_DATASETS", "REGRESSION_LOSSES", "RESERVED_TAG_PREFIXES", "SCHEDULES",
           "SWEEP_DIRECTIONS"]

# Tag names MLflow and nnexp write themselves: tracking.tags may not set them (a run's
# description is tracking.description, MLflow's mlflow.note.content).
RESERVED_TAG_PREFIXES = ("mlflow.", "nnexp.")
