"""Studies on several processes (``--executor local``) and through submitit (its local and debug
executors stand in for Slurm): every run finishes, a shared encoder is trained once, and running
the same command again resumes (finished stages are skipped)."""
import json
import os
import sys

import pytest
import yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from neuron import config
from neuron.errors import ConfigError
from neuron.pipeline import expand_study, plan_study, run_study, stage_key

pytest.importorskip("submitit")


def _study(tmp_path):
    path = tmp_path / "exec.yaml"
    path.write_text(yaml.safe_dump({
        "name": "exec", "run": "params/runs/smoke.yaml", "seeds": [0],
        "overrides": {"num_threads": 1},
        # two Neuron variants on one pre-trained encoder (only Neuron-stage parameters differ)
        "variants": {"a": {}, "b": {"neuron_train.lr": 0.05}},
        "resources": {"cpus_per_task": 1, "timeout_min": 30, "mem_gb": 4},
    }, sort_keys=False))
    return path


def _train_events(cache):
    return [line for f in sorted((cache / "encoders").glob("*/train-events.log"))
            for line in f.read_text().splitlines()]


def _mtimes(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("0[1-4]_*.ipynb"))}


def test_resources_are_validated(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "run": "params/runs/smoke.yaml",
                                    "resources": {"gpus": 1}}))
    with pytest.raises(ConfigError, match="unknown key.*gpus"):
        config.load_study_config(path)
    path.write_text(yaml.safe_dump({"name": "bad", "run": "params/runs/smoke.yaml",
                                    "resources": {"cpus_per_task": 0}}))
    with pytest.raises(ConfigError, match="cpus_per_task"):
        config.load_study_config(path)
    with pytest.raises(ConfigError, match="unknown key.*gpu"):
        run_study(_study(tmp_path), executor="local", runs_root=tmp_path / "r",
                  reports_root=tmp_path / "rep", resources={"gpu": 2}, progress=False)
    with pytest.raises(ConfigError, match="unknown executor"):
        run_study(_study(tmp_path), executor="ray", runs_root=tmp_path / "r", progress=False)


def test_plan_gives_shared_stages_to_the_first_run(tmp_path):
    runs = expand_study(config.load_study_config(_study(tmp_path)))
    a, b = runs
    assert stage_key("encoder", a.config) == stage_key("encoder", b.config)
    plan = plan_study(runs, ["data", "side_info", "encoder", "neuron"], tmp_path)
    assert [(r.point, todo) for r, todo in plan] == [("a", ["data", "side_info", "encoder", "neuron"]),
                                                     ("b", ["neuron"])]


@pytest.mark.slow  # another process
@pytest.mark.usefixtures("data_root")
def test_local_two_processes_then_submitit_resume(tmp_path, tmp_cache, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    study = _study(tmp_path)
    runs_root, reports_root = tmp_path / "runs", tmp_path / "reports"
    kw = dict(runs_root=runs_root, reports_root=reports_root, progress=False)
    run_study(study, executor="local", jobs=2, **kw)
    study_dir = runs_root / "exec"
    # point "a" is the smoke run at one thread: its metrics are the pinned ones (tests/test_golden.py);
    # point "b" (another learning rate) trains another Neuron on the same encoder and split
    from refresh_golden import smoke_rows
    from test_golden import check_rows, same_numerics

    check_rows(smoke_rows(study_dir, point="a"), exact=same_numerics())
    ma, mb = (json.loads((study_dir / p / "utd_mhad_smoke_0" / "seed0" / "metrics.json").read_text())
              for p in ("a", "b"))
    assert ma["neuron_history"] != mb["neuron_history"]  # Neuron's lr differs
    assert ma["split"] == mb["split"] and ma["seen"] == mb["seen"]
    assert len(_train_events(tmp_cache)) == 1  # the shared encoder was trained once
    assert _train_events(tmp_cache)[0].split()[3:] == ["threads=1", "checkpoint_epoch=0"]
    assert (study_dir / "a/utd_mhad_smoke_0/seed0/03_encoder.ipynb").exists()
    assert not (study_dir / "b/utd_mhad_smoke_0/seed0/03_encoder.ipynb").exists()
    assert json.loads((reports_root / "exec" / "study.json").read_text())["finished_runs"] == [
        "a/utd_mhad_smoke_0/seed0", "b/utd_mhad_smoke_0/seed0"]

    # the same command again: nothing left to run, no notebook re-executed (in-process executor)
    before = _mtimes(study_dir)
    assert plan_study(expand_study(config.load_study_config(study)), ["data", "side_info", "encoder", "neuron"],
                      study_dir) == []
    run_study(study, executor="submitit-debug", **kw)
    assert _mtimes(study_dir) == before

    # an interrupted run (its Neuron stage unfinished) resumes through submitit's local executor
    os.remove(study_dir / "b/utd_mhad_smoke_0/seed0/neuron.done.json")
    run_study(study, executor="submitit-local", **kw)
    after = _mtimes(study_dir)
    changed = sorted(k for k in after if after[k] != before[k])
    assert changed == ["b/utd_mhad_smoke_0/seed0/04_neuron.ipynb"]
    assert len(_train_events(tmp_cache)) == 1
    assert list((study_dir / ".submitit").rglob("*_result.pkl"))  # it really went through submitit
