"""End to end: the smoke study (a few real UTD-MHAD classes, one epoch per stage) through
papermill and nbconvert; reports and results.json exist and parse; a rerun skips every stage."""
import json
import time

import pytest

from conftest import ROOT
from neuron.pipeline import run_study
from neuron.study import collect_results


@pytest.mark.slow
def test_smoke_study_end_to_end(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    reports = run_study(ROOT / "params/studies/smoke.yaml", runs_root=tmp_path / "runs",
                        reports_root=tmp_path / "reports", progress=False)
    for name in ("summary.html", "results.json", "results.csv", "01_data.html", "02_side_info.html",
                 "03_encoder.html", "04_neuron.html"):
        assert (reports / name).stat().st_size > 0, name
    res = json.loads((reports / "results.json").read_text())
    methods = {r["method"] for r in res["summary"]}
    assert methods == {"neuron", "baseline", "neuron_allrounds", "ensemble", "ensemble_allrounds"}  # neuron.evaluate.METHODS
    run = tmp_path / "runs/smoke/default/utd_mhad_smoke_0/seed0"
    man = json.loads((run / "manifest.json").read_text())
    assert man["seed"] == 0 and man["params"]["data"]["split"] == "utd_mhad_smoke"
    assert "data" in man["extra"] and man["git_commit"]
    # the machine's thread count: the pinned smoke metrics within their tolerance (tests/test_golden.py)
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from refresh_golden import smoke_rows
    from test_golden import check_rows

    assert {r["method"] for r in collect_results(tmp_path / "runs/smoke")} == set(methods)
    check_rows(smoke_rows(tmp_path / "runs/smoke"), exact=False)
    html = (reports / "04_neuron.html").read_text()
    assert "data:image/png" in html and "honest" in html
    # unchanged inputs: every stage is skipped (only the summary runs again)
    t0 = time.time()
    stamps = {p: p.stat().st_mtime for p in run.glob("*.ipynb")}
    run_study(ROOT / "params/studies/smoke.yaml", runs_root=tmp_path / "runs",
              reports_root=tmp_path / "reports", progress=False)
    assert {p: p.stat().st_mtime for p in run.glob("*.ipynb")} == stamps


@pytest.mark.slow
def test_interrupted_neuron_stage_resumes_to_same_metrics(data_root, tmp_path, monkeypatch):
    import torch

    from neuron import stages
    from neuron.config import load_run_config

    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    cfg = load_run_config(ROOT / "params/runs/smoke.yaml", {"neuron_train.epochs": 3, "baseline.enabled": False})
    device = stages.setup_torch(cfg)
    torch.set_num_threads(1)
    bundle = stages.stage_data(cfg)
    sem = stages.stage_side_info(cfg, bundle)
    enc, _, folder = stages.stage_encoder(cfg, bundle, device, progress=False)
    feats = stages.stage_features(cfg, bundle, enc, folder, device, progress=False)
    full = stages.stage_neuron(cfg, bundle, sem, feats, tmp_path / "a", device, progress=False)
    part = stages.stage_neuron(cfg, bundle, sem, feats, tmp_path / "b", device, progress=False, stop_after=1)
    assert part == {"interrupted": True, "epochs_done": 1}
    resumed = stages.stage_neuron(cfg, bundle, sem, feats, tmp_path / "b", device, progress=False)
    assert resumed["neuron"] == full["neuron"]
    assert [h["loss"] for h in resumed["neuron_history"]] == [h["loss"] for h in full["neuron_history"]]


@pytest.mark.slow
def test_encoder_training_starts_record_threads_and_checkpoint_epoch(data_root, tmp_path, monkeypatch):
    """Each start of an encoder training is logged with its thread count (CPU results are
    bit-identical per count) and the epochs already in a checkpoint (a resumed training)."""
    import torch

    from neuron import stages
    from neuron.config import load_run_config

    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    cfg = load_run_config(ROOT / "params/runs/smoke.yaml", {"encoder.epochs": 2, "encoder.warmup_epochs": 0})
    device = stages.setup_torch(cfg)
    torch.set_num_threads(1)
    bundle = stages.stage_data(cfg)
    _, hist, folder = stages.stage_encoder(cfg, bundle, device, progress=False, stop_after=1)
    assert len(hist) == 1 and not (folder / "encoder.pt").exists()
    _, hist, _ = stages.stage_encoder(cfg, bundle, device, progress=False)
    assert len(hist) == 2 and (folder / "encoder.pt").exists()
    stages.stage_encoder(cfg, bundle, device, progress=False)  # finished: loaded, not trained (no line)
    events = [line.split()[3:] for line in (folder / "train-events.log").read_text().splitlines()]
    assert events == [["threads=1", "checkpoint_epoch=0"], ["threads=1", "checkpoint_epoch=1"]]
