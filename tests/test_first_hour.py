"""A new user's first hour: one data-root rule, commands as written, quiet and informative runs."""
import os
import subprocess
from pathlib import Path

import pytest

from neuron import config

ROOT = Path(__file__).resolve().parent.parent


def test_data_root_rule(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setattr(config, "PROJECT_ROOT", project)
    monkeypatch.delenv("NEURON_DATA_ROOT", raising=False)
    assert config.data_root() == project / "data"  # nothing else: ./data beside the project
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert config.data_root() == tmp_path / "shared" / "data"  # ../shared/data when it exists
    monkeypatch.setenv("NEURON_DATA_ROOT", str(tmp_path / "env"))
    assert config.data_root() == tmp_path / "env"  # the environment wins
    assert config.data_root(str(tmp_path / "run")) == tmp_path / "run"  # the run's key wins over all


def test_scripts_use_the_python_rule(tmp_path):
    """scripts/activate.sh asks neuron.config.data_root (no rule of its own)."""
    text = (ROOT / "scripts" / "activate.sh").read_text()
    assert "data_root" in text and "../shared/data" not in text
    lab = (ROOT / "scripts" / "lab.sh").read_text()
    assert "$PWD/data" not in lab
    env = {**os.environ, "NEURON_DATA_ROOT": ""}
    out = subprocess.run(["bash", "-c", ". scripts/data_root.sh && echo \"$NEURON_DATA_ROOT\""],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    env.pop("NEURON_DATA_ROOT")
    want = subprocess.run(["python", "-c", "from neuron.config import data_root; print(data_root())"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == want
