"""A run's dataset inputs are described as `mlflow.data.from_numpy` describes them, with the run
context resolved once and without importing IPython."""

import subprocess
import sys
from pathlib import Path

import mlflow.data

from nnexp.data import load_dataset
from nnexp.tracking.dataset_input import CONTEXTS, describe_dataset_inputs

ROOT = Path(__file__).resolve().parents[2]


def test_inputs_are_what_from_numpy_gives() -> None:
    dataset = load_dataset("iris", rng_seed=0)
    ours = describe_dataset_inputs(dataset)
    assert [d["context"] for d in ours] == ["source", *CONTEXTS]
    for described, context in zip(ours[1:], CONTEXTS, strict=True):
        X, y = getattr(dataset, f"X_{context}"), getattr(dataset, f"y_{context}")
        entity = mlflow.data.from_numpy(X, targets=y, name=dataset.name)._to_mlflow_entity()
        assert {k: described[k] for k in ("name", "digest", "source_type", "source", "schema",
                                          "profile")} == {
            "name": entity.name, "digest": entity.digest, "source_type": entity.source_type,
            "source": entity.source, "schema": entity.schema, "profile": entity.profile}
    assert ours[0]["source"] == ours[1]["source"]  # arrays without a file: the code that ran


def test_describing_inputs_does_not_import_ipython() -> None:
    code = ("import sys; from nnexp.data import load_dataset\n"
            "from nnexp.tracking.dataset_input import describe_dataset_inputs\n"
            "described = describe_dataset_inputs(load_dataset('iris', rng_seed=0))\n"
            "print(len(described), 'IPython' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["4", "False"]
