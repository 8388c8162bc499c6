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
