"""`hydra/launcher=slurm` as far as it goes without a cluster: its settings are ones submitit's
SLURM executor accepts and turn into the sbatch script a cluster would run; and the launcher's
job function, with the same resource settings, runs a sweep under submitit's local executor,
each job in a process of its own, recorded whole under one parent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from helpers import all_runs, run_cli

from nnexp.config.paths import conf_dir

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="the slurm extra is not installed (pip install -e '.[slurm]')")


def _slurm_launcher(*overrides: str):
    """The launcher Hydra instantiates for `hydra/launcher=slurm` (and `overrides`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    from nnexp.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", *overrides],
                      return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # the launcher's settings interpolate it
    try:
        return instantiate(cfg.hydra.launcher)
    finally:
        HydraConfig.instance().cfg = None  # later tests in this process see no Hydra job


def test_the_slurm_settings_make_the_sbatch_script_a_cluster_runs(tmp_path, monkeypatch):
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf
    from submitit import AutoExecutor

    launcher = _slurm_launcher("hydra.launcher.partition=cpu", "hydra.launcher.account=lab")
    # submitit looks for `srun` to tell a cluster node; a stand-in lets it build the script
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    # the executor and parameters exactly as the plugin's SlurmLauncher.launch builds them
    params = dict(launcher.params)
    executor = AutoExecutor(cluster="slurm", folder=tmp_path / "submitit",
                            slurm_max_num_timeout=params.pop("max_num_timeout"))
    params.pop("submitit_folder")
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in shared else f"slurm_{k}": v
                                  for k, v in params.items()})  # refuses unknown settings
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit",
                                                           "job")
    lines = script.splitlines()
    for expected in ("#SBATCH --partition=cpu", "#SBATCH --account=lab", "#SBATCH --time=60",
                     "#SBATCH --cpus-per-task=2", "#SBATCH --mem=4GB", "#SBATCH --nodes=1",
                     "#SBATCH --ntasks-per-node=1", "export OMP_NUM_THREADS=2"):
        assert expected in lines, script
    assert not any(line.startswith("#SBATCH --export") for line in lines)  # jobs get the
    # launcher's environment (SLURM's default), which carries the sweep's parent run


@pytest.mark.usefixtures("mlruns_store")
def test_the_slurm_job_function_records_a_sweep_under_submitits_local_executor(tmp_path):
    settings = yaml.safe_load((conf_dir() / "hydra" / "launcher" / "slurm.yaml").read_text())
    shared = ("timeout_min", "cpus_per_task", "mem_gb", "nodes", "tasks_per_node")
    same_resources = [f"hydra.launcher.{key}={settings[key]}" for key in shared]
    proc = run_cli(["nnexp.train", "-m", "hydra/launcher=submitit_local", *same_resources,
                    "lr=0.1,0.01", "train.epochs=2", "model.hidden=[8]"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = all_runs(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (parent,) = [r for r in runs if r.data.tags.get("nnexp.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED"
    assert sorted(c.info.run_name for c in children) == ["lr=0.01", "lr=0.1"]
    assert all(c.info.status == "FINISHED" and "test/accuracy" in c.data.metrics
               for c in children)
    pids = {c.data.tags["nnexp.pid"] for c in children}
    assert len(pids) == 2 and parent.data.tags["nnexp.pid"] not in pids  # a process per job
    sweep_dir = Path(parent.data.tags["nnexp.sweep.dir"])
    assert len(list((sweep_dir / ".submitit").glob("*/*_submitted.pkl"))) == 2
