"""The names a user may choose, in one place: the config's checks, the data loaders and the error
messages all read them here. Engine names (activations, optimizers, ...) belong to the engine and
are handed on from it."""

from __future__ import annotations

from nnexp.engine import ACTIVATIONS, DTYPES, INITIALISERS, LOSSES, OPTIMIZERS, SCHEDULES

FILE_DATASETS = ("csv", "parquet", "npz")  # a user's file: data.path
TABLE_DATASETS = ("csv", "parquet")  # with a header: data.target names a column
IN_MEMORY_DATASETS = ("arrays", "dataframe")  # given from Python: nnexp.run(cfg, data=...)
DATASETS = ("digits", "iris", "wine", "breast_cancer", "moons", "circles", "xor", "line", "images",
            *FILE_DATASETS, *IN_MEMORY_DATASETS)
TASKS = ("classification", "regression")
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "|": "|"}  # data.delimiter -> character
# other spellings: a tab character, \t as typed, and words (Hydra's parser refuses a bare ;)
DELIMITER_ALIASES = {"\t": "tab", "\\t": "tab", "semicolon": ";", "comma": ",", "pipe": "|"}
REGRESSION_DATASETS = ("line",)  # the others are classification sets
IMAGE_MODES = ("L", "RGB")
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".pnm", ".ppm",
                    ".tif", ".tiff", ".webp")
SWEEP_DIRECTIONS = ("minimize", "maximize")
FULL_MODEL_CHOICES = ("best", "always", "never")  # tracking.full_model
PRUNE_RULES = ("median", "asha")  # sweep.prune (nnexp.sweeps.pruning_rules)
CLASSIFICATION_LOSSES = ("cross_entropy", "bce")
REGRESSION_LOSSES = ("mse", "mae")

__all__ = ["ACTIVATIONS", "CLASSIFICATION_LOSSES", "DATASETS", "DELIMITER_ALIASES", "DELIMITERS",
           "DTYPES", "FILE_DATASETS", "FULL_MODEL_CHOICES", "IMAGE_EXTENSIONS", "IMAGE_MODES",
           "INITIALISERS",
           "IN_MEMORY_DATASETS", "LOSSES", "OPTIMIZERS", "PRUNE_RULES", "REGRESSION_DATASETS",
           "REGRESSION_LOSSES", "RESERVED_TAG_PREFIXES", "SCHEDULES", "SWEEP_DIRECTIONS",
           "TABLE_DATASETS", "TASKS"]

# Tag names MLflow and nnexp write themselves: tracking.tags may not set them (a run's
# description is tracking.description, MLflow's mlflow.note.content).
RESERVED_TAG_PREFIXES = ("mlflow.", "nnexp.")
