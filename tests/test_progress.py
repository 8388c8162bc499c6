"""The progress channel from the stage kernels to the runner's terminal (neuron.progress)."""
import io
import json

import torch

from neuron import progress
from neuron.config import OptimConfig
from neuron.train import fit


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_report_is_a_noop_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    progress.report("x", 1, 2)  # nothing to write to, nothing raised
    assert list(progress.track([1, 2, 3], "y")) == [1, 2, 3]
    assert not list(tmp_path.iterdir())


def test_track_reports_first_and_last_and_throttles(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 3600.0)
    assert list(progress.track(range(50), "embedding texts", unit="text")) == list(range(50))
    lines = _lines(path)
    assert lines[0] == {"task": "embedding texts", "n": 0, "total": 50, "unit": "text"}
    assert lines[-1]["n"] == 50 and len(lines) == 2  # the 48 in between fall in the interval


def test_tail_follows_the_file_into_a_bar(tmp_path, monkeypatch):
    path = tmp_path / "run" / ".progress.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    out = io.StringIO()
    with progress.ProgressTail(path, poll=0.01, file=out) as tail:
        for _ in progress.track(range(3), "encoder epoch 1/2", unit="batch"):
            pass
        with open(path, "a") as fh:
            fh.write('{"task": "half-writ')  # a line still being written is not read
    assert [(m["task"], m["n"]) for m in tail.seen] == [("encoder epoch 1/2", i) for i in range(4)]
    assert tail.bar.total == 3 and "encoder epoch 1/2" in out.getvalue()
    assert not path.exists()  # removed on exit


def test_fit_and_feature_extraction_report_batches(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    data = torch.utils.data.TensorDataset(torch.randn(40, 4), torch.randint(0, 2, (40,)))
    fit(model, data, OptimConfig(epochs=2, batch_size=16, steps=[5]),
        lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), 0, torch.device("cpu"),
        desc="encoder", progress=False)
    tasks = [(m["task"], m["n"], m["total"]) for m in _lines(path)]
    assert tasks[0] == ("encoder epoch 1/2", 0, 2) and ("encoder epoch 2/2", 2, 2) in tasks
    assert all(t[2] == 2 for t in tasks)  # 40 samples, batch 16, the last partial batch dropped
