"""Training loops: determinism, resume after interruption (including SIGKILL mid-epoch), and the
Neuron stage on synthetic features with the honest and paper protocols."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from conftest import ROOT
from neuron.config import OptimConfig
from neuron.errors import NeuronError
from neuron.io import torch_load
from neuron.train import Features, fit, score_neuron, train_neuron


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))


def _step(m, batch):
    x, y = batch
    return nn.functional.cross_entropy(m(x), y)


CFG = OptimConfig(epochs=4, batch_size=8, lr=0.1, steps=[2])


def test_fit_resume_equals_uninterrupted(tmp_path):
    ref = _model()
    h_ref = fit(ref, _toy(), CFG, _step, 0, torch.device("cpu"), tmp_path / "a.ckpt", progress=False).history
    m = _model()
    part = fit(m, _toy(), CFG, _step, 0, torch.device("cpu"), tmp_path / "b.ckpt", progress=False, stop_after=2)
    assert len(part.history) == 2
    m2 = _model()  # a new process would start from a fresh model
    res = fit(m2, _toy(), CFG, _step, 0, torch.device("cpu"), tmp_path / "b.ckpt", progress=False)
    assert res.resumed_from == 2
    assert [h["loss"] for h in res.history] == [h["loss"] for h in h_ref]
    for a, b in zip(ref.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_of_other_parameters_refused(tmp_path):
    fit(_model(), _toy(), CFG, _step, 0, torch.device("cpu"), tmp_path / "c.ckpt", progress=False, stop_after=1)
    with pytest.raises(NeuronError, match="different parameters"):
        fit(_model(), _toy(), CFG, _step, 1, torch.device("cpu"), tmp_path / "c.ckpt", progress=False)


def test_nan_loss_names_the_epoch(tmp_path):
    def bad(m, batch):
        return _step(m, batch) * float("nan")
    with pytest.raises(NeuronError, match="epoch 1"):
        fit(_model(), _toy(), CFG, bad, 0, torch.device("cpu"), None, progress=False)


SCRIPT = textwrap.dedent('''
    import os, signal, sys, torch
    from torch import nn
    sys.path.insert(0, {tests!r})
    from test_train import _toy, _model, _step, CFG
    from neuron.train import fit
    torch.set_num_threads(1)
    kill_at = int(os.environ.get("KILL_AT", "-1"))
    calls = [0]
    def step(m, batch):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return _step(m, batch)
    m = _model()
    res = fit(m, _toy(), CFG, step, 0, torch.device("cpu"), sys.argv[1], progress=False)
    torch.save({{k: v for k, v in m.state_dict().items()}}, sys.argv[2])
''')


@pytest.mark.slow  # another process
def test_sigkill_mid_epoch_then_resume(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests")))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ckpt, out_ref, out = tmp_path / "k.ckpt", tmp_path / "ref.pt", tmp_path / "out.pt"
    subprocess.run([sys.executable, str(script), str(tmp_path / "r.ckpt"), str(out_ref)], env=env, check=True)
    # 5 batches per epoch: step 8 is in the middle of epoch 2
    p = subprocess.run([sys.executable, str(script), str(ckpt), str(out)], env={**env, "KILL_AT": "8"})
    assert p.returncode == -signal.SIGKILL and not out.exists()
    assert torch_load(ckpt)["epoch"] == 1  # the finished epoch survived, intact
    subprocess.run([sys.executable, str(script), str(ckpt), str(out)], env=env, check=True)
    a, b = torch.load(out_ref, weights_only=True), torch.load(out, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _synthetic_features(n_per_class=12, classes=6, V=5, T=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, 32, generator=g)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    base = centres[labels] + 0.3 * torch.randn(len(labels), 32, generator=g)
    f_s = base[:, :, None].repeat(1, 1, V) + 0.1 * torch.randn(len(labels), 32, V, generator=g)
    f_t = base[:, :, None].repeat(1, 1, T) + 0.1 * torch.randn(len(labels), 32, T, generator=g)
    # semantics: a fixed random projection of the class centres, K = 4 noisy copies, D = 16
    proj = torch.randn(32, 16, generator=g)
    sem = (centres @ proj)[:, None, :] + 0.05 * torch.randn(classes, 4, 16, generator=g)
    return Features(f_s, f_t, base, labels, torch.arange(len(labels))), sem


def test_neuron_learns_seen_classes_on_synthetic_features():
    from neuron.models import Neuron
    feats, sem = _synthetic_features()
    seen = [0, 1, 2, 3]
    train = feats.subset(torch.isin(feats.labels, torch.tensor(seen)))
    torch.manual_seed(0)
    model = Neuron(text_dim=16, feat_dim=32, num_prototypes=8, compress_per_round=2, top_k=4, logit_scale=10.0)
    cfg = OptimConfig(epochs=15, batch_size=16, lr=0.1, steps=[10])
    res = train_neuron(model, train, seen, [sem] * 3, [sem] * 3, cfg, 0, torch.device("cpu"), progress=False)
    assert res.history[-1]["loss"] < res.history[0]["loss"] * 0.7
    s = score_neuron(model, train, seen, [sem] * 3, [sem] * 3, torch.device("cpu"))
    acc = (torch.as_tensor(seen)[s.fused.argmax(1)] == train.labels).float().mean()
    assert acc > 0.8
    assert len(s.rounds["spatial"]) == 3 and s.spatial_reps[0].shape == (len(train), 16)
    full = s.full(s.fused, 6)
    assert full.shape == (len(train), 6) and np.all(full[:, 4:] == -1e4)


def test_features_take_and_state_roundtrip():
    feats, _ = _synthetic_features()
    sub = feats.take(np.array([5, 3]))
    assert sub.labels.tolist() == [feats.labels[5].item(), feats.labels[3].item()]
    back = Features.from_state(feats.to_state())
    assert torch.allclose(back.f_s, feats.f_s, atol=1e-2) and back.f_s.dtype == torch.float32
    with pytest.raises(KeyError, match="sample 999"):
        feats.take([999])


@pytest.mark.parametrize("progress", [False, True])
def test_fit_iterates_each_epochs_loader_once(progress, monkeypatch):
    """The progress bar must not make its own iterator of the DataLoader: a second iterator draws
    from the seeded shuffling generator and changes the batches (and with workers, starts them)."""
    from torch.utils.data import DataLoader

    calls = []
    orig = DataLoader.__iter__

    def counting(self):
        calls.append(1)
        return orig(self)

    monkeypatch.setattr(DataLoader, "__iter__", counting)
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    model = nn.Linear(4, 2)
    cfg = OptimConfig(epochs=3, batch_size=8, lr=0.1, steps=[2])
    fit(model, TensorDataset(x, y), cfg, lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1]), 0,
        torch.device("cpu"), progress=progress)
    assert len(calls) == 3
