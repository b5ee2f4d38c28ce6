"""train -> reproduce -> `identical` in process: data sets, optimizers, dtypes, a sweep child."""

from __future__ import annotations

from helpers import client_for

from nnexp.data.synthetic_images import make_image_folder
from nnexp.record.tags import REPRODUCED_FROM as REPRODUCED_FROM_TAG
from nnexp.reproduce import reproduce
from nnexp.tracking.store import ensure_experiment


def _reproduce(run_id: str, uri: str, capsys, *extra: str) -> tuple[int, str]:
    code = reproduce([run_id, "--tracking-uri", uri, "--quiet", *extra])
    return code, capsys.readouterr().out


def _reproductions(uri: str, run_id: str) -> list:
    client = client_for(uri)
    exp = client.get_experiment_by_name("nnexp")
    return client.search_runs([exp.experiment_id], f"tags.`{REPRODUCED_FROM_TAG}` = '{run_id}'")


def test_float64_sgd_cosine_on_moons_is_identical(train_run, store_uri, capsys):
    run_id = train_run("data=moons", "model.dtype=float64", "optimizer=sgd", "schedule=cosine",
                       "schedule.warmup_steps=3")
    code, out = _reproduce(run_id, store_uri, capsys)
    assert code == 0, out
    assert out.splitlines()[-1].startswith("identical: 15 metrics")
    (new,) = _reproductions(store_uri, run_id)
    assert new.info.status == "FINISHED"
    assert new.data.tags["mlflow.source.name"] == "nnexp.reproduce"
    assert new.data.params["model.dtype"] == "float64"


def test_float32_images_momentum_with_clipping_is_identical(train_run, store_uri, tmp_path,
                                                            capsys):
    folder = make_image_folder(tmp_path / "imgs", per_class=8, size=(12, 12), mode="RGB")
    run_id = train_run("data=images", f"data.image_dir={folder}", "data.image_mode=RGB",
                       "optimizer=momentum", "optimizer.clip_norm=0.5", "train.batch_size=4")
    code, out = _reproduce(run_id, store_uri, capsys)
    assert code == 0, out
    assert "identical" in out.splitlines()[-1]


def test_sweep_child_is_reproduced_outside_the_sweep(train_run, store_uri, capsys):
    client = client_for(store_uri)
    exp_id = ensure_experiment(client, "nnexp", store_uri)
    parent = client.create_run(exp_id, run_name="sweep").info.run_id
    child = train_run("lr=0.01", parent_run_id=parent, name="lr=0.01")
    assert client.get_run(child).data.tags["mlflow.parentRunId"] == parent
    code, out = _reproduce(child, store_uri, capsys)
    assert code == 0, out
    (new,) = _reproductions(store_uri, child)
    assert new.info.experiment_id == exp_id
    assert "mlflow.parentRunId" not in new.data.tags  # a new run does not join a finished sweep
    assert new.data.params["lr"] == "0.01"
