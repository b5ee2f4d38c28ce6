"""The record schema: every tag name nnexp writes on a run, in one place.

These names are what `reproduce`, `diff`, `runs` and the sweep summary read back, so a tag is
renamed here or nowhere. Prefixes end with a dot and take a suffix (a key, a run id, a name).
"""

from __future__ import annotations

from typing import Any

from nnexp.config.vocabulary import RESERVED_TAG_PREFIXES

PREFIX = "nnexp."

# What ran: identity and inputs of the experiment.
SEED = "nnexp.seed"
CONFIG_HASH = "nnexp.config_hash"
DTYPE = "nnexp.dtype"
DATA = "nnexp.data"
DATA_NOTES = "nnexp.data_notes"
DATA_DIGEST = "nnexp.data_digest"  # sha256 of the data: file bytes, an image folder's, arrays
DATA_SOURCE = "nnexp.data_source"  # the data file's or folder's path, or what Python gave
OVERRIDES = "nnexp.overrides"
COMMAND = "nnexp.command"

# Where it ran: provenance (after Sacred). DETERMINING decide whether numbers repeat bit for bit.
HOST = "nnexp.host"
PID = "nnexp.pid"
PLATFORM = "nnexp.platform"
BLAS = "nnexp.blas"
GIT_DIRTY = "nnexp.git.dirty"
GIT_DIFF_SHA = "nnexp.git.diff_sha256"  # of source/git_diff.patch (nnexp.git.*: the project)
GIT_UNTRACKED = "nnexp.git.untracked"  # untracked files, not ignored: "a.py, data/b.csv"
GIT_DIFF_NOTE = "nnexp.git.diff_note"  # what the patch summarises: binaries, "diff over 256 KB"
NNEXP_SOURCE_COMMIT = "nnexp.source.commit"  # nnexp's own, when it runs from a git checkout
NNEXP_SOURCE_DIRTY = "nnexp.source.dirty"
VERSION_PREFIX = "nnexp.version."
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_USER = "mlflow.user"
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"
MLFLOW_NOTE = "mlflow.note.content"  # the run's description in MLflow's UI: tracking.description
RESERVED_PREFIXES = RESERVED_TAG_PREFIXES  # MLflow's and nnexp's own: not for tracking.tags
DETERMINING = (MLFLOW_GIT_COMMIT, GIT_DIRTY, GIT_DIFF_SHA, NNEXP_SOURCE_COMMIT, PLATFORM, BLAS)

# How it went.
BEST_EPOCH = "nnexp.best_epoch"
EPOCHS_RUN = "nnexp.epochs_run"
TRAIN_SECONDS = "nnexp.train_seconds"
STOPPED_EARLY = "nnexp.stopped_early"
# the earlier epoch whose weights the run kept (train.patience): its final metrics, test/* and
# model are those weights'; absent when the last epoch's weights are kept
KEPT_EPOCH = "nnexp.kept_epoch"
LAST_COMPLETED_EPOCH = "nnexp.last_completed_epoch"
HEARTBEAT = "nnexp.heartbeat"  # unix seconds, refreshed while the process lives
PID_START = "nnexp.pid_start"  # the process's start time, so a reused pid is not taken for it
MACHINE = "nnexp.machine"  # a digest of the machine and boot ids: where a pid means something
STATUS_REASON = "nnexp.status_reason"
# the id a run had while no store answered at its start (its journal's folder name); `runs sync`
# creates the run in the store with this tag and finds it again by it
LOCAL_RUN_ID = "nnexp.local_run_id"
ERROR = "nnexp.error"
DIVERGED = "nnexp.diverged"
DIVERGED_PREFIX = "nnexp.diverged."  # + what, epoch, step, layer
VERDICT = "nnexp.verdict"  # healthy, lr_too_high, ... (nnexp/run/verdict.py)
VERDICT_EVIDENCE = "nnexp.verdict.evidence"
MODEL_RUN_NAME = "nnexp.run_name"  # on a run's logged model (named `model`): the run's name

# The learning-rate range test (nnexp.lr_find), on its own run.
LR_FIND = "nnexp.lr_find"  # "range_test" on a range test's run
LR_FIND_KEY = "nnexp.lr_find.key"  # hash of what decides the test (the config minus lr, seed...)
LR_FIND_SUGGESTED = "nnexp.lr_find.suggested_lr"
LR_FIND_MIN_LOSS = "nnexp.lr_find.min_loss_lr"
LR_FIND_STEEPEST = "nnexp.lr_find.steepest_lr"
LR_FIND_DIVERGENCE = "nnexp.lr_find.divergence_lr"  # "none" when the loss never turned up
LR_FIND_STOPPED = "nnexp.lr_find.stopped"
LR_LIMIT = "nnexp.sweep.lr_limit"  # on a run of a sweep with sweep.skip_lr_above: the limit used

# Pruning (sweep.prune): the run's objective at each decision epoch, read by its siblings, and
# why it was stopped.
PRUNE_VALUE_PREFIX = "nnexp.prune.value."  # + epoch: repr of the objective at that epoch
PRUNED = "nnexp.pruned"  # "epoch 6: val/loss 0.82 worse than the median 0.31 of 5 siblings"
PRUNED_EPOCH = "nnexp.pruned.epoch"
PRUNE_COST = "nnexp.prune.cost"  # decisions taken, store queries and their seconds

# Checkpoints and exact resume (sweep.checkpoint_every, sweep.resume).
RESUMED_FROM = "nnexp.resumed_from"  # on a continuation: the run it continues
RESUMED_AT_EPOCH = "nnexp.resumed_at_epoch"  # the checkpoint's epoch it started from
CONTINUED_BY = "nnexp.continued_by"  # on a stopped run: the run that continued it
CHECKPOINT_SHA256_PREFIX = "nnexp.checkpoint.sha256."  # + file name: sha256 of its bytes
RESUME_LEASE = "nnexp.resume.lease"  # on a stopped run: "<token> <expiry, unix s>" of its resumer
RESUME_FORCED = "nnexp.resume.forced"  # on a continuation (sweep.resume_force): what differed

# Reproduction.
REPRODUCED_FROM = "nnexp.reproduced_from"
REPRODUCE_OVERRIDES = "nnexp.reproduce.overrides"

# Sweeps: the parent run's tags.
SWEEP = "nnexp.sweep"  # "parent" on a sweep's parent run
SWEEP_DIR = "nnexp.sweep.dir"
SWEEP_PARAMS = "nnexp.sweep.params"
SWEEP_OVERRIDES = "nnexp.sweep.overrides"
SWEEP_SWEEPER = "nnexp.sweep.sweeper"
SWEEP_LAUNCHER = "nnexp.sweep.launcher"
SWEEP_OBJECTIVE = "nnexp.sweep.objective"
SWEEP_DIRECTION = "nnexp.sweep.direction"
SWEEP_N_CHILDREN = "nnexp.sweep.n_children"
SWEEP_N_FAILED = "nnexp.sweep.n_failed"
SWEEP_N_PRUNED = "nnexp.sweep.n_pruned"
SWEEP_FAILED = "nnexp.sweep.failed"
SWEEP_ERROR = "nnexp.sweep.error"
SWEEP_REUSED_PREFIX = "nnexp.sweep.reused."  # + run id of an earlier identical run
SWEEP_JOB_ERROR_PREFIX = "nnexp.sweep.job_error."  # + job name
SWEEP_SKIPPED_PREFIX = "nnexp.sweep.skipped."  # + job name: why no run (sweep.skip_lr_above)
SWEEP_WINNER = "nnexp.sweep.winner"  # real, not_distinguishable or undetermined (seeds swept)
SWEEP_WINNER_EVIDENCE = "nnexp.sweep.winner.evidence"
SWEEP_DUPLICATES = "nnexp.sweep.duplicates"  # jobs that trained the same values and seed
BEST_RUN_ID = "nnexp.best_run_id"  # seeds swept: the best seed of the best configuration
BEST_RUN_NAME = "nnexp.best_run_name"
BEST_OBJECTIVE = "nnexp.best_objective"  # seeds swept: the best configuration's mean
BEST_CONFIG = "nnexp.best_config"  # seeds swept: best by mean across seeds, as `lr=0.1`
BEST_CONFIG_N_SEEDS = "nnexp.best_config.n_seeds"
BEST_SINGLE_RUN_ID = "nnexp.best_single_run_id"  # seeds swept: the best run of all (a lucky seed)
BEST_SINGLE_RUN_NAME = "nnexp.best_single_run_name"
BEST_SINGLE_OBJECTIVE = "nnexp.best_single_objective"

MAX_VALUE_CHARS = 5000  # long values (errors, lists of runs) are cut here, within MLflow's limit

# experiment tags: MLflow 3's UI opens an experiment as model training only when it says so
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"  # the UI's "Machine learning" kind


def user_tags(tracking: Any, *, description: bool = True) -> dict[str, str]:
    """The user's own tags (`tracking.tags`) and, unless told not, the description
    (`tracking.description` as mlflow.note.content): what a user adds to a run's record."""
    found = {str(k): str(v) for k, v in (tracking.get("tags") or {}).items()}
    if description and tracking.get("description"):
        found[MLFLOW_NOTE] = str(tracking.description)
    return found


def parse_override(text: str) -> tuple[str, str]:
    """One override of the nnexp.overrides tag: `lr=0.1` -> ("lr", "0.1"); a leading +, ++ or ~
    is dropped from the key."""
    key, _, value = text.partition("=")
    return key.lstrip("+~"), value
