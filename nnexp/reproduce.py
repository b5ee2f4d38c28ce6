"""`python -m nnexp.reproduce RUN_ID`: train a logged run again and prove every metric matches.

    python -m nnexp.reproduce RUN_ID                   # identical, or the first difference
    python -m nnexp.reproduce RUN_ID --check-only       # compare provenance only, train nothing
    python -m nnexp.reproduce RUN_ID --overrides lr=0.01 model.hidden=[8]   # a diff report

Exit codes: 0 identical (or a report with --overrides), 1 different, 2 cannot reproduce.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nnexp.cli import run_cli
from nnexp.config import Config, ConfigError, drop_moved_keys, unknown_key_message
from nnexp.paths import conf_dir, group_options
from nnexp.tracking import provenance, tags
from nnexp.tracking.params import flatten
from nnexp.tracking.records import (
    MetricPoint,
    RunRecord,
    load_config,
    load_overrides,
    load_run,
    metric_histories,
    open_run_store,
)

PROG = "nnexp.reproduce"
EXIT_IDENTICAL, EXIT_DIFFERENT = 0, 1
_INTERPOLATION = re.compile(r"^\$\{[^}]+\}$")


@dataclass
class MetricDifference:
    """The first step at which one metric's two histories disagree."""

    key: str
    step: int | None
    recorded: list[float]
    reproduced: list[float]
    offset_ms: int  # when the recorded (else reproduced) value was logged, to find the first


@dataclass
class Comparison:
    """Every metric of two runs compared value by value."""

    n_metrics: int
    n_values: int
    differences: list[MetricDifference]  # earliest first


# ---- rebuilding the config ---------------------------------------------------------------------

def _schema_interpolations(node: Any, prefix: str = "") -> dict[str, str]:
    """Keys whose schema default is an interpolation (`a: ${b}` -> b), to restore them."""
    found = {}
    for key, value in node.items():
        if isinstance(value, dict):
            found.update(_schema_interpolations(value, f"{prefix}{key}."))
        elif isinstance(value, str) and _INTERPOLATION.match(value):
            found[f"{prefix}{key}"] = value[2:-1]
    return found


def schema_links() -> dict[str, str]:
    """The schema's own interpolations as written (`{"optimizer.lr": "${lr}"}`): the only ones
    a logged config may hold (any other is refused when the record is read)."""
    schema = OmegaConf.to_container(OmegaConf.structured(Config), resolve=False)
    return {key: f"${{{target}}}" for key, target in _schema_interpolations(schema).items()}


def _restore_interpolations(logged: dict[str, Any], schema: DictConfig) -> DictConfig:
    """The logged config with resolved copies of schema links (`a: ${b}` logged as `a: 0.1`)
    turned back into links, so an override of b reaches a as it did when the run was made."""
    config = OmegaConf.create(logged)
    links = _schema_interpolations(OmegaConf.to_container(schema, resolve=False))
    for key, target in links.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(config, parent) if parent else config
        if (isinstance(node, DictConfig) and leaf in node
                and node[leaf] == OmegaConf.select(config, target)):
            del node[leaf]  # the schema's `${target}` takes its place, so overrides follow it
    return config


def _apply_group(cfg: DictConfig, group: str, option: str) -> None:
    """`optimizer=sgd` on a logged config: reset the group to its schema, merge the option file."""
    path = conf_dir() / group / f"{option}.yaml"
    if not path.is_file():
        allowed = ", ".join(group_options(group)) or "(none)"
        raise ConfigError(f"{group}: unknown option '{option}'; allowed: {allowed}")
    cfg[group] = OmegaConf.structured(Config)[group]
    content = OmegaConf.load(path)
    is_global = any("@package _global_" in line for line in path.read_text().splitlines()[:3])
    merged = OmegaConf.merge(cfg, content if is_global else {group: content})
    for key in merged:
        cfg[key] = merged[key]


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """Hydra `key=value` overrides (and `group=option`) on a rebuilt config; types are checked."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    groups = [o for o in parsed if "." not in o.key_or_group and isinstance(o.value(), str)
              and (conf_dir() / o.key_or_group).is_dir()]
    for o in parsed:
        if o.is_sweep_override():
            raise ConfigError(f"{o.input_line}: a sweep cannot be reproduced; give one value")
        if o.is_delete() or o.is_add() or o.is_force_add():
            raise ConfigError(f"{o.input_line}: only key=value overrides apply to a logged config")
    for o in groups:
        _apply_group(cfg, o.key_or_group, o.value())
    for o in parsed:
        if o in groups:
            continue
        missing = object()
        if OmegaConf.select(cfg, o.key_or_group, default=missing) is missing:
            raise ConfigError(unknown_key_message(o.key_or_group, o.value()))
        OmegaConf.update(cfg, o.key_or_group, o.value(), merge=False)


def rebuild_config(logged: dict[str, Any], overrides: list[str], uri: str,
                   experiment: str) -> DictConfig:
    """The logged config merged onto the typed schema, overridden, and tracked in the same store."""
    schema = OmegaConf.structured(Config)
    cfg = OmegaConf.merge(schema, _restore_interpolations(drop_moved_keys(logged), schema))
    apply_overrides(cfg, overrides)
    cfg.tracking.uri = uri
    cfg.tracking.experiment = experiment
    cfg.tracking.enabled = True
    assert isinstance(cfg, DictConfig)
    return cfg


# ---- comparing histories -----------------------------------------------------------------------

def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _by_step(points: list[MetricPoint]) -> dict[int, list[MetricPoint]]:
    steps: dict[int, list[MetricPoint]] = {}
    for point in points:
        steps.setdefault(point.step, []).append(point)
    return steps


def _first_difference(key: str, recorded: list[MetricPoint], reproduced: list[MetricPoint]
                      ) -> MetricDifference | None:
    a, b = _by_step(recorded), _by_step(reproduced)
    for step in sorted(set(a) | set(b)):
        pa, pb = a.get(step, []), b.get(step, [])
        va, vb = [p.value for p in pa], [p.value for p in pb]
        if _bits(va) != _bits(vb):
            offset = min(p.offset_ms for p in (pa or pb))
            return MetricDifference(key, step, va, vb, offset)
    return None


def compare_histories(recorded: dict[str, list[MetricPoint]],
                      reproduced: dict[str, list[MetricPoint]]) -> Comparison:
    """Every key, every step, exact bits (NaN equals NaN, 0.0 differs from -0.0)."""
    differences = []
    for key in sorted(set(recorded) | set(reproduced)):
        found = _first_difference(key, recorded.get(key, []), reproduced.get(key, []))
        if found is not None:
            differences.append(found)
    differences.sort(key=lambda d: (d.offset_ms, d.step if d.step is not None else -1, d.key))
    n_values = sum(len(points) for points in recorded.values())
    return Comparison(len(set(recorded) | set(reproduced)), n_values, differences)


def _values(values: list[float]) -> str:
    return ", ".join(repr(v) for v in values) if values else "(not logged)"


def describe(difference: MetricDifference) -> str:
    """`val/loss at step 2: recorded 0.25, reproduced 0.2500001` (exact, round-trip reprs)."""
    return (f"{difference.key} at step {difference.step}: recorded "
            f"{_values(difference.recorded)}, reproduced {_values(difference.reproduced)}")


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
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    return parser.parse_args(argv)


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
           verbose: bool, client: Any) -> str:
    """Train `cfg` as a new run tagged with where it came from; its run id (diverged or not)."""
    from nnexp.experiment import run_experiment
    from nnexp.loop import Diverged

    extra = {tags.REPRODUCED_FROM: record.run_id}
    if overrides:
        extra[tags.REPRODUCE_OVERRIDES] = " ".join(overrides)
    name = f"{record.name or record.run_id} (reproduced)"
    try:
        result = run_experiment(cfg, run_name=name, overrides=overrides, extra_tags=extra,
                                verbose=verbose, command=command)
        assert result.run_id is not None
        return result.run_id
    except Diverged as exc:  # reproducing a diverged run: it should diverge the same way
        print(f"note: {exc}")
        found = client.search_runs([record.experiment_id],
                                   f"tags.`{tags.REPRODUCED_FROM}` = '{record.run_id}'",
                                   order_by=["attributes.start_time DESC"], max_results=1)
        return found[0].info.run_id


def report(record: RunRecord, new: RunRecord, comparison: Comparison, overrides: list[str],
           logged: dict[str, str], rebuilt: dict[str, str]) -> int:
    """Print the verdict (or, with overrides, a diff report); the exit code."""
    differences = comparison.differences
    status_differs = record.status != new.status
    if overrides:
        print(f"diff report: run {new.run_id} = run {record.run_id} with {' '.join(overrides)}")
        for key in sorted(set(logged) | set(rebuilt)):
            if logged.get(key) != rebuilt.get(key) and not key.startswith("tracking."):
                print(f"  config {key}: {logged.get(key)} -> {rebuilt.get(key)}")
    elif not differences and not status_differs:
        print(f"identical: {comparison.n_metrics} metrics, {comparison.n_values} values equal bit "
              f"for bit (run {new.run_id} reproduces {record.run_id})")
        return EXIT_IDENTICAL
    else:
        first = describe(differences[0]) if differences else "none in metrics"
        print(f"different: first difference: {first}")
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
    logged = load_config(client, record.run_id, schema_links())
    cfg = rebuild_config(logged, args.overrides, uri, record.experiment)
    with recorded_blas_threads(record) as note:
        if note:
            print(f"note: {note}")
        n_warnings = warn_provenance(record, command)
        if args.check_only:
            print(f"provenance: {n_warnings} difference(s)" if n_warnings
                  else "provenance: matches the recorded one")
            return EXIT_DIFFERENT if n_warnings else EXIT_IDENTICAL
        overrides = [*load_overrides(client, record.run_id), *args.overrides]
        new_id = _train(cfg, record, overrides, command, not args.quiet, client)
    new = load_run(client, new_id)
    comparison = compare_histories(metric_histories(client, record),
                                   metric_histories(client, new))
    rebuilt = flatten(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    return report(record, new, comparison, args.overrides, flatten(logged), rebuilt)


def main() -> None:
    """Entry point: one-line errors and exit 2 when the run cannot be reproduced."""
    run_cli(lambda: sys.exit(reproduce(sys.argv[1:])), PROG)


if __name__ == "__main__":
    main()
