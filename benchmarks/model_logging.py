"""What logging a run's model costs: `log_network_model` now vs the same function at a git revision.

Paired calls in one process (the reference, then this tree's, on fresh runs of one SQLite store),
after two warm-up rounds; medians of wall time and of CPU time, and the median of the per-round
ratios (each round's two calls see the same machine load). The reference is the revision's
`nnexp/tracking/model.py` run with this tree's pyfunc code file.

    python benchmarks/model_logging.py [--against main] [--repeats 25] [--data digits|wine|images]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from omegaconf import OmegaConf

import nnexp.tracking.model as current
from nnexp import engine
from nnexp.config import Config
from nnexp.experiment.build import load_data
from nnexp.tracking.store import ensure_experiment, open_client

REPO = Path(__file__).resolve().parents[1]


def reference_module(revision: str, folder: Path) -> ModuleType:
    """`nnexp/tracking/model.py` as it was at `revision`, loaded under another name."""
    source = subprocess.run(["git", "show", f"{revision}:nnexp/tracking/model.py"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    path = folder / "model_reference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("model_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.MODEL_CODE = current.MODEL_CODE  # type: ignore[attr-defined]
    return module


def call_arguments(module: ModuleType, dataset: Any) -> tuple[dict[str, Any], list[Any]]:
    """The metadata and input example a version of the module builds for `dataset`."""
    meta = module.model_meta(dataset, "cross_entropy")
    if hasattr(module, "input_example"):
        example = module.input_example(dataset)
    else:
        example = module.raw_inputs(dataset, dataset.X_train[:module.EXAMPLE_ROWS])
    return meta, example.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git revision of the reference")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--data", default="digits", choices=["digits", "wine", "images"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = OmegaConf.structured(Config)
        cfg.data.name = args.data
        if args.data == "images":
            from nnexp.data import make_image_folder

            make_image_folder(Path(tmp) / "pictures", per_class=8, size=(32, 32))
            cfg.data.image_dir = str(Path(tmp) / "pictures")
        dataset = load_data(cfg)
        network = engine.build_mlp(dataset.n_features, [64], dataset.n_outputs,
                                   rng=np.random.default_rng(0))
        weights = Path(tmp) / "weights.npz"
        engine.save_weights(network, weights)
        uri = f"sqlite:///{tmp}/mlflow.db"
        client = open_client(uri)
        experiment = ensure_experiment(client, "model-logging", uri)
        versions = {"reference": reference_module(args.against, Path(tmp)), "current": current}
        wall: dict[str, list[float]] = {name: [] for name in versions}
        cpu: dict[str, list[float]] = {name: [] for name in versions}
        for round_ in range(args.repeats + 2):
            for name, module in versions.items():
                meta, example = call_arguments(module, dataset)
                run = client.create_run(experiment, run_name=f"lr=0.{round_}")
                client.log_metric(run.info.run_id, "val/loss", 0.5, timestamp=1, step=7)
                known = {"experiment_id": experiment, "params": {}, "run_name": run.info.run_name}
                accepted = inspect.signature(module.log_network_model).parameters
                extra = {k: v for k, v in known.items() if k in accepted}
                started, cpu_started = time.perf_counter(), time.thread_time()
                module.log_network_model(uri, run.info.run_id, weights, meta, example, step=7,
                                         linked=[("val/loss", 0.5, 1)], **extra)
                if round_ >= 2:  # the first rounds pay imports and caches
                    wall[name].append(time.perf_counter() - started)
                    cpu[name].append(time.thread_time() - cpu_started)
    ratios = [c / r for c, r in zip(wall["current"], wall["reference"], strict=True)]
    result = {
        "data": args.data, "against": args.against, "repeats": args.repeats,
        "wall_median_s": {k: round(statistics.median(v), 4) for k, v in wall.items()},
        "cpu_median_ms": {k: round(statistics.median(v) * 1000, 1) for k, v in cpu.items()},
        "paired_ratio_current_over_reference": round(statistics.median(ratios), 3),
    }
    print(f"log_network_model, {args.data}, median of {args.repeats}: "
          f"{args.against} {result['wall_median_s']['reference']:.3f} s "
          f"({result['cpu_median_ms']['reference']:.0f} ms CPU), this tree "
          f"{result['wall_median_s']['current']:.3f} s "
          f"({result['cpu_median_ms']['current']:.0f} ms CPU), paired ratio "
          f"{result['paired_ratio_current_over_reference']:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
