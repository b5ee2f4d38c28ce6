"""`python -m nnexp.reproduce RUN_ID`: train a logged run again and prove every metric matches.

    python -m nnexp.reproduce RUN_ID                   # identical, or the first difference
    python -m nnexp.reproduce RUN_ID --check-only       # compare provenance only, train nothing
    python -m nnexp.reproduce RUN_ID --overrides lr=0.01 model.hidden=[8]   # a diff report
    python -m nnexp.reproduce PARENT_RUN_ID              # every child of a sweep, a verdict each

A run that logged weight hashes (`metrics/weight_hashes.npz`) is retrained only up to the first
step whose weights differ from the record: the report names that step and the layers, and the
reproduction ends KILLED there (`--to-end` trains on and compares every metric).
Exit codes: 0 identical (or a report with --overrides), 1 different, 2 cannot reproduce.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import DictConfig

from nnexp.cli import run_cli
from nnexp.config import ConfigError, to_container
from nnexp.config.from_record import rebuild_config, schema_links
from nnexp.experiment.history import HISTORY_ARTIFACT
from nnexp.experiment.weight_hashes import (
    HASHES_ARTIFACT,
    HASHES_IN_HISTORY,
    HashComparison,
    RecordedHashes,
    WeightsDiffer,
    compare_hashes,
    load_hashes,
)
from nnexp.record import provenance, tags
from nnexp.record.history_comparison import (
    Comparison,
    common_steps,
    compare_histories,
    describe,
)
from nnexp.record.params import describe_disagreements, disagreements, flatten
from nnexp.tracking.records import (
    MetricPoint,
    RecordError,
    RunRecord,
    download_artifact,
    load_config,
    load_overrides,
    load_run,
    metric_histories,
    open_run_store,
)
from nnexp.tracking.relocation import follow_moved_store

PROG = "nnexp.reproduce"
MAX_HASHES_BYTES = 64_000_000  # 4 bytes a layer and 8 a step: millions of hashed steps
MAX_HISTORY_BYTES = 200_000_000  # a sweep child's hashes are in its history file
EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_CANNOT = 0, 1, 2


# ---- the command -------------------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of `python -m nnexp.reproduce`."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="the MLflow run to reproduce")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, "
                                               "then ./mlruns/mlflow.db, then the "
                                               "stores listed in mlruns/stores.json)")
    parser.add_argument("--check-only", action="store_true",
                        help="compare provenance with the current one; train nothing")
    parser.add_argument("--overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="re-run with changes (Hydra override syntax); reports, never fails")
    parser.add_argument("--to-end", action="store_true",
                        help="train to the end even after the weights differ from the record")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return parser.parse_args(argv)


def load_recorded_hashes(client: Any, run_id: str) -> RecordedHashes | None:
    """The weight hashes a run logged, or None for a run that logged none: their own artifact,
    or (a sweep's child) arrays in its history file."""
    with tempfile.TemporaryDirectory(prefix="nnexp-hashes-") as tmp:
        name, prefix = HASHES_ARTIFACT, ""
        path = download_artifact(client, run_id, HASHES_ARTIFACT, tmp, MAX_HASHES_BYTES)
        if path is None:
            name, prefix = HISTORY_ARTIFACT, HASHES_IN_HISTORY
            path = download_artifact(client, run_id, HISTORY_ARTIFACT, tmp, MAX_HISTORY_BYTES)
        if path is None:
            return None
        try:
            return load_hashes(path, prefix)
        except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
            raise RecordError(f"run '{run_id}': {name} is not a weight-hash file "
                              f"({exc})") from None


@contextmanager
def recorded_blas_threads(record: RunRecord) -> Iterator[str | None]:
    """Run BLAS with the thread count the run recorded: threads change the order of sums."""
    wanted = provenance.blas_threads(record.tags.get(tags.BLAS, ""))
    now = provenance.blas_threads(provenance.blas_info())
    if wanted is None or now is None or wanted == now:
        yield None
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=wanted, user_api="blas"):
        reached = provenance.blas_threads(provenance.blas_info())
        yield f"BLAS threads set to {reached} as recorded (default here {now})"


def warn_provenance(record: RunRecord, command: list[str]) -> int:
    """Print one warning line per provenance difference; return how many there were."""
    current, _ = provenance.provenance_tags(command)
    differences = provenance.provenance_differences(record.tags, current)
    for key, recorded, now in differences:
        print(f"warning: {key} differs: recorded {recorded or '(none)'}, now {now or '(none)'}")
    if record.status != "FINISHED":
        print(f"warning: run {record.run_id} ended {record.status}; its history may be partial")
    return len(differences)


def _train(cfg: DictConfig, record: RunRecord, overrides: list[str], command: list[str],
           verbose: bool, client: Any, check: RecordedHashes | None
           ) -> tuple[str, WeightsDiffer | None]:
    """Train `cfg` as a new run tagged with where it came from, stopping where its weights
    differ from `check`; its run id (diverged or not), and where it stopped if it did."""
    from nnexp.experiment.loop import Diverged
    from nnexp.sweeps.job import run_job

    extra = {tags.REPRODUCED_FROM: record.run_id}
    if overrides:
        extra[tags.REPRODUCE_OVERRIDES] = " ".join(overrides)
    name = f"{record.name or record.run_id} (reproduced)"
    cfg = copy.deepcopy(cfg)
    cfg.sweep.skip_finished = cfg.sweep.resume = False  # train again: never answer with a run
    try:
        result = run_job(cfg, run_name=name, overrides=overrides, extra_tags=extra,
                         verbose=verbose, command=command,
                         pruner=_recorded_stop(record), check_weights=check)
        assert result.run_id is not None
        return result.run_id, None
    except (Diverged, WeightsDiffer) as exc:  # a diverged run should diverge the same way
        if isinstance(exc, Diverged):
            print(f"note: {exc}")
        found = client.search_runs([record.experiment_id],
                                   f"tags.`{tags.REPRODUCED_FROM}` = '{record.run_id}'",
                                   order_by=["attributes.start_time DESC"], max_results=1)
        return found[0].info.run_id, exc if isinstance(exc, WeightsDiffer) else None


def describe_hashes(found: HashComparison) -> str:
    """The first weight difference of two runs, or how many hashed steps were equal."""
    if found.step is None:
        return f"weights equal at all {found.n_equal} hashed steps"
    since = (f"equal at step {found.equal_at}" if found.equal_at is not None
             else "already at the first hashed step")
    return f"weights first differ at step {found.step} in {', '.join(found.layers)} ({since})"


def report_stopped(record: RunRecord, new: RunRecord, stopped: WeightsDiffer,
                   recorded: dict[str, list[MetricPoint]],
                   reproduced: dict[str, list[MetricPoint]]) -> int:
    """Where a reproduction stopped because its weights differ, and the metrics up to there."""
    print(f"different: {stopped}")
    print(f"reproduction: run {new.run_id} ({new.status}); run {record.run_id} is the record")
    comparison = compare_histories(*common_steps(recorded, reproduced, stopped.step))
    print(f"metrics up to step {stopped.step}: {len(comparison.differences)} of "
          f"{comparison.n_metrics} differ" + (":" if comparison.differences else ""))
    for difference in comparison.differences:
        print(f"  {describe(difference)}")
    return EXIT_DIFFERENT


def _recorded_stop(record: RunRecord) -> Any:
    """A pruned run stopped where its siblings stopped it; its reproduction stops there too."""
    from nnexp.experiment.pruner import StopAtEpoch

    epoch = record.tags.get(tags.PRUNED_EPOCH, "")
    if not epoch.isdigit():
        return None
    return StopAtEpoch(int(epoch), f"stopped where run {record.run_id} was pruned")


def report(record: RunRecord, new: RunRecord, comparison: Comparison, overrides: list[str],
           logged: dict[str, str], rebuilt: dict[str, str],
           weights: HashComparison | None = None) -> int:
    """Print the verdict (or, with overrides, a diff report); the exit code. `weights`: the two
    runs' weight hashes compared, when both logged them."""
    differences = comparison.differences
    status_differs = record.status != new.status
    weights_differ = weights is not None and weights.step is not None
    if overrides:
        print(f"diff report: run {new.run_id} = run {record.run_id} with {' '.join(overrides)}")
        for key in sorted(set(logged) | set(rebuilt)):
            if logged.get(key) != rebuilt.get(key) and not key.startswith("tracking."):
                print(f"  config {key}: {logged.get(key)} -> {rebuilt.get(key)}")
        if weights is not None:
            print(f"  {describe_hashes(weights)}")
    elif not differences and not status_differs and not weights_differ:
        hashed = f" and weights at {weights.n_equal} hashed steps" if weights else ""
        print(f"identical: {comparison.n_metrics} metrics, {comparison.n_values} values{hashed} "
              f"equal bit for bit (run {new.run_id} reproduces {record.run_id})")
        return EXIT_IDENTICAL
    else:
        first = describe(differences[0]) if differences else "none in metrics"
        print(f"different: first difference: {first}")
        if weights is not None:
            print(f"  {describe_hashes(weights)}")
    print(f"{len(differences)} of {comparison.n_metrics} metrics differ"
          + (" (values equal bit for bit)" if not differences else ":"))
    for difference in differences:
        print(f"  {describe(difference)}")
    if status_differs:
        print(f"  status: recorded {record.status}, reproduced {new.status}")
    return EXIT_IDENTICAL if overrides else EXIT_DIFFERENT


def reproduce(argv: list[str]) -> int:
    """The whole command: read the record, check provenance, train again, compare; an exit code."""
    args = parse_args(argv)
    command = ["python", "-m", PROG, *argv]
    uri, client = open_run_store(args.tracking_uri, args.run_id)
    record = load_run(client, args.run_id)
    note = follow_moved_store(uri, client, record.experiment_id)
    if note:
        print(note, file=sys.stderr)
    if record.tags.get(tags.SWEEP) == "parent":
        return reproduce_sweep(client, uri, record, args, command)
    return reproduce_run(client, uri, record, args, command)


def reproduce_sweep(client: Any, uri: str, parent: RunRecord, args: argparse.Namespace,
                    command: list[str]) -> int:
    """Reproduce every child of a sweep's parent run in turn; one verdict line per child, then
    the tally. Exit 0 when all are identical, 1 when any differs, 2 when any cannot be rerun."""
    from nnexp.cli import describe_user_error
    from nnexp.sweeps.summary import child_runs

    children = child_runs(client, parent.run_id)
    if not children:
        raise ConfigError(f"run {parent.run_id} is a sweep's parent run without children: "
                          "nothing to reproduce")
    what = "checking the provenance of" if args.check_only else "reproducing"
    print(f"run {parent.run_id} is the parent of sweep '{parent.name}': {what} its "
          f"{len(children)} children one after another")
    verdicts, worst = [], EXIT_IDENTICAL
    quiet = argparse.Namespace(**{**vars(args), "quiet": True})
    for number, child in enumerate(children, 1):
        name = child.info.run_name
        print(f"[{number}/{len(children)}] {name} (run {child.info.run_id})", flush=True)
        try:
            code = reproduce_run(client, uri, load_run(client, child.info.run_id), quiet,
                                 command)
            if args.check_only:
                verdict = "provenance matches" if code == EXIT_IDENTICAL else "provenance differs"
            else:
                verdict = ("report" if args.overrides else
                           "identical" if code == EXIT_IDENTICAL else "different")
        except Exception as exc:
            message = describe_user_error(exc)
            if message is None:
                raise
            print(f"cannot reproduce: {message}")
            code, verdict = EXIT_CANNOT, f"cannot reproduce: {message}"
        worst = max(worst, code)
        verdicts.append((name, child.info.run_id, verdict))
    good = "provenance matches" if args.check_only else "identical"
    n_good = sum(v == good for _, _, v in verdicts)
    if args.overrides:
        print(f"sweep {parent.run_id}: {len(children)} children rerun with "
              f"{' '.join(args.overrides)}")
    elif args.check_only:
        print(f"sweep {parent.run_id}: the provenance of {n_good} of {len(children)} children "
              "matches")
    else:
        print(f"sweep {parent.run_id}: {n_good} of {len(children)} children identical")
    width = max(len(name) for name, _, _ in verdicts)
    for name, run_id, verdict in verdicts:
        print(f"  {name:<{width}}  {run_id}  {verdict}")
    return worst


def reproduce_run(client: Any, uri: str, record: RunRecord, args: argparse.Namespace,
                  command: list[str]) -> int:
    """Reproduce one run (see the module docstring); the exit code."""
    logged = load_config(client, record.run_id, schema_links())
    found = disagreements(flatten(logged), record.params)
    if found:  # retraining a record that contradicts itself would prove nothing
        raise RecordError(f"run '{record.run_id}': {describe_disagreements(found)}; refused "
                          "(which one the run trained with is unknown: nnexp.diff shows both)")
    cfg = rebuild_config(logged, args.overrides, uri, record.experiment)
    changed = _data_changed(cfg, args)
    if changed and not (args.overrides or args.check_only):
        return EXIT_DIFFERENT
    with recorded_blas_threads(record) as note:
        if note:
            print(f"note: {note}")
        n_warnings = warn_provenance(record, command) + bool(changed)
        if args.check_only:
            print(f"provenance: {n_warnings} difference(s)" if n_warnings
                  else "provenance: matches the recorded one")
            return EXIT_DIFFERENT if n_warnings else EXIT_IDENTICAL
        overrides = [*load_overrides(client, record.run_id), *args.overrides]
        hashes = load_recorded_hashes(client, record.run_id)
        check = None if args.overrides or args.to_end else hashes
        new_id, stopped = _train(cfg, record, overrides, command, not args.quiet, client, check)
    new = load_run(client, new_id)
    recorded, reproduced = metric_histories(client, record), metric_histories(client, new)
    if stopped is not None:
        return report_stopped(record, new, stopped, recorded, reproduced)
    new_hashes = load_recorded_hashes(client, new_id) if hashes is not None else None
    weights = compare_hashes(hashes, new_hashes) if hashes and new_hashes else None
    rebuilt = flatten(to_container(cfg))  # as a run records its config
    return report(record, new, compare_histories(recorded, reproduced), args.overrides,
                  flatten(logged), rebuilt, weights)


def _data_changed(cfg: DictConfig, args: argparse.Namespace) -> bool:
    """Checked before anything else: is the data the run read still what it recorded? One line
    if not; with --overrides the rerun reads the data as it is now."""
    from nnexp.experiment.data_source import data_change

    changed = data_change(cfg)
    if changed is None:
        return False
    if args.overrides:
        print(f"note: {changed}; the rerun reads the data as it is now")
        cfg.data.digest = None
    elif args.check_only:
        print(f"warning: {changed}")
    else:
        print(f"different: {changed}; not retrained, as the numbers could not match (restore "
              "the data to reproduce the run, or retrain on the new data with --overrides)")
    return True


def main() -> None:
    """Entry point: one-line errors and exit 2 when the run cannot be reproduced."""
    run_cli(lambda: sys.exit(reproduce(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
