"""A job's sweep policy, decided BEFORE its run exists: everything `cfg.sweep.*` means for one
job (reuse an identical finished run, continue a stopped one, skip an lr above the range test's
divergence point, which pruner asks at each epoch's end). Nothing below the sweep reads those
keys; the run receives the decision as `RunOptions`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from nnexp.config import diverged_objective
from nnexp.data import Dataset
from nnexp.experiment.console import say
from nnexp.experiment.loop import LoopResult
from nnexp.experiment.run import Continuation, ExperimentResult, prepared_data
from nnexp.record import tags
from nnexp.record.redact import redact
from nnexp.sweeps.resume import ResumePoint


@dataclass
class JobPolicy:
    """What the sweep decided for a job: an answer without a run (reused or skipped), or how
    its run goes (a continuation, extra tags, the data already loaded for the lr check)."""

    answer: ExperimentResult | None = None
    resume: ResumePoint | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    dataset: Dataset | None = None

    @property
    def continuation(self) -> Continuation | None:
        if self.resume is None or self.resume.checkpoint is None:
            return None
        return Continuation(self.resume.run_id, self.resume.checkpoint)


def decide(cfg: DictConfig, identity: str, uri: str | None, *, parent_run_id: str | None,
           run_name: str, verbose: bool, overrides: list[str],
           command: list[str] | None) -> JobPolicy:
    """The job's policy: reuse (skip_finished, resume), continue (resume), skip (skip_lr_above)."""
    from nnexp.sweeps.resume import current_code, find_resume_point
    from nnexp.sweeps.reuse import finished_run

    s = cfg.sweep
    if uri is not None and (s.skip_finished or s.resume):
        done = finished_run(uri, cfg.tracking.experiment, identity)
        if done is not None:
            return JobPolicy(reuse(done, cfg, uri, parent_run_id, verbose, run_name))
    resume, forced = None, {}
    if uri is not None and s.resume:
        resume = find_resume_point(uri, cfg.tracking.experiment, identity,
                                   keep_pruned=s.prune is not None, code=current_code(command),
                                   force=s.resume_force)
        if resume is not None and resume.checkpoint is None:
            return JobPolicy(reuse(resume.run, cfg, uri, parent_run_id, verbose, run_name,
                                   resume.outcome))
        if resume is not None and resume.forced:
            forced = {tags.RESUME_FORCED: resume.forced[:tags.MAX_VALUE_CHARS]}
    if s.skip_lr_above is None:
        return JobPolicy(resume=resume, extra_tags=forced)
    from nnexp.config import to_container
    from nnexp.sweeps.lr_limit import learning_rate_limit, outside_tested_range

    dataset, _ = prepared_data(cfg)
    limit, source = learning_rate_limit(cfg, to_container(cfg), uri, dataset, parent_run_id,
                                        overrides, command)
    if limit is not None and cfg.lr > limit:
        return JobPolicy(skip(cfg, uri, parent_run_id, run_name, verbose,
                              f"lr={cfg.lr:g} is above {source}"))
    outside = outside_tested_range(cfg, limit)
    if outside is not None:
        source = f"{source}; {outside}"
        say(f"warning: {outside}", error=True)
    return JobPolicy(resume=resume, extra_tags={**forced, tags.LR_LIMIT: source}, dataset=dataset)


def reuse(done: Any, cfg: DictConfig, uri: str, parent_run_id: str | None, verbose: bool,
          run_name: str, what: str = "FINISHED") -> ExperimentResult:
    """sweep.skip_finished, sweep.resume: answer with an earlier identical run (finished, or
    pruned or diverged: decisions and results that training again would repeat)."""
    from nnexp.sweeps.reuse import note_reuse

    if parent_run_id:  # the sweep summary lists reused runs next to its children
        note_reuse(uri, parent_run_id, done.info.run_id, redact(run_name))
    metrics = dict(done.data.metrics)
    objective = metrics.get(cfg.sweep.objective, math.nan)
    if what == "diverged":  # what the sweeper got from it the first time
        objective = diverged_objective(cfg)
    if verbose:
        say(f"skipped: identical config already {what} as run {done.info.run_id} "
            f"({cfg.sweep.objective} {objective:.4f})")
    return ExperimentResult(done.info.run_id, objective, metrics, LoopResult(), reused=True)


def skip(cfg: DictConfig, uri: str | None, parent_run_id: str | None, run_name: str,
         verbose: bool, reason: str) -> ExperimentResult:
    """sweep.skip_lr_above: no run; the sweep's parent says which job and why."""
    if parent_run_id and uri is not None:
        from nnexp.sweeps.range_tests import note_skipped

        note_skipped(uri, parent_run_id, redact(run_name), reason)
    if verbose:
        say(f"skipped: {reason}; no run")
    return ExperimentResult(None, diverged_objective(cfg), {}, LoopResult(), skipped=reason)
