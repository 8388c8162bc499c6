"""Shared fixtures: the real data root (../shared/data or $NEURON_DATA_ROOT) and a temp cache."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def real_data_root() -> Path | None:
    env = os.environ.get("NEURON_DATA_ROOT")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if (cand / "utd_mhad" / "Skeleton").is_dir():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = real_data_root()
    if root is None:
        pytest.skip("real skeleton data not found (set NEURON_DATA_ROOT or put ../shared/data)")
    return root


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def smoke_study(data_root, tmp_path_factory):
    """The smoke study run once per test session at one thread into a temporary folder (about a
    minute; tests using it are ``slow``). Returns ``(runs_root, report)``: the study's run folder
    (``runs/smoke``-like, with manifests and metrics) and its report (``reports/smoke``-like,
    with ``study.json``, ``outcomes.json``, ``manifests.json``)."""
    from neuron.pipeline import run_study

    tmp = tmp_path_factory.mktemp("smoke_study")
    old = {k: os.environ.get(k) for k in ("NEURON_DATA_ROOT", "NEURON_CACHE")}
    os.environ.update(NEURON_DATA_ROOT=str(data_root), NEURON_CACHE=str(tmp / "cache"))
    try:
        report = run_study(ROOT / "params/studies/smoke.yaml", runs_root=tmp / "runs",
                           reports_root=tmp / "reports", progress=False,
                           overrides={"num_threads": 1})
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return tmp / "runs" / "smoke", report
