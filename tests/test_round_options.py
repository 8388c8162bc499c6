"""Named variants for the investigation of issue 13: per-round logit scales and round weights in
the loss (``neuron.round_logit_scales``, ``neuron.round_weights``); unset, they change nothing,
not even the stage keys of runs made before they existed."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT
from neuron.config import ConfigError, load_run_config, to_dict
from neuron.models import Neuron, neuron_loss
from neuron.keys import stage_key

D, C = 32, 6


def _inputs(n: int = 8):
    g = torch.Generator().manual_seed(3)
    f_s, f_t = torch.randn(n, 256, 20, generator=g).relu(), torch.randn(n, 256, 16, generator=g).relu()
    sem = [torch.randn(C, 10, D, generator=g) for _ in range(3)]
    return f_s, f_t, sem, torch.arange(n) % C


def _out(**kw):
    torch.manual_seed(0)
    f_s, f_t, sem, y = _inputs()
    with torch.no_grad():
        return Neuron(D, num_prototypes=16, compress_per_round=2, **kw)(f_s, f_t, sem, sem), y


def test_round_logit_scales_scale_each_round_alone():
    base, _ = _out(logit_scale=10.0)
    same, _ = _out(logit_scale=10.0, round_logit_scales=[10.0, 10.0, 10.0])
    per, _ = _out(logit_scale=10.0, round_logit_scales=[1.0, 10.0, 30.0])
    for r, s in enumerate([1.0, 10.0, 30.0]):
        for a, b, c in ((base.spatial_logits, same.spatial_logits, per.spatial_logits),
                        (base.temporal_logits, same.temporal_logits, per.temporal_logits)):
            assert torch.equal(a[r], b[r])
            assert torch.allclose(c[r], a[r] * (s / 10.0), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(per.scores, base.scores)  # the fused score uses the last round's scale


def test_round_weights_in_the_loss():
    out, y = _out(logit_scale=10.0)
    mean = neuron_loss(out, y)
    assert torch.allclose(neuron_loss(out, y, [1.0, 1.0, 1.0]), mean)
    assert torch.allclose(neuron_loss(out, y, [2.0, 2.0, 2.0]), mean)  # normalised by the sum
    last = (F.cross_entropy(out.spatial_logits[2], y) + F.cross_entropy(out.temporal_logits[2], y)) / 2
    assert torch.allclose(neuron_loss(out, y, [0.0, 0.0, 1.0]), last)
    w = [1.0, 2.0, 3.0]
    ref = sum(sum(wi * F.cross_entropy(lg[r], y) for r, wi in enumerate(w)) / 6.0
              for lg in (out.spatial_logits, out.temporal_logits)) / 2
    assert torch.allclose(neuron_loss(out, y, w), ref)
    with pytest.raises(ConfigError, match="round weights"):
        neuron_loss(out, y, [1.0, 1.0])


@pytest.mark.parametrize("kw,match", [({"round_logit_scales": [1.0, 2.0]}, "round_logit_scales"),
                                      ({"round_logit_scales": [1.0, 0.0, 2.0]}, "round_logit_scales"),
                                      ({"round_weights": [1.0, -1.0, 1.0]}, "round_weights"),
                                      ({"round_weights": [0.0, 0.0, 0.0]}, "round_weights")])
def test_bad_round_options_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        Neuron(D, **kw)
    with pytest.raises(ConfigError, match=match):
        load_run_config(ROOT / "params/runs/smoke.yaml", {f"neuron.{k}": v for k, v in kw.items()})


def test_unset_round_options_leave_stage_keys_unchanged():
    cfg = to_dict(load_run_config(ROOT / "params/runs/smoke.yaml"))
    assert cfg["neuron"]["round_logit_scales"] is None and cfg["neuron"]["round_weights"] is None
    before = {**cfg, "neuron": {k: v for k, v in cfg["neuron"].items()
                                if k not in ("round_logit_scales", "round_weights")}}
    assert stage_key("neuron", cfg) == stage_key("neuron", before)  # runs made before keep their key
    for k, v in (("round_logit_scales", [1.0, 10.0, 30.0]), ("round_weights", [0.0, 0.0, 1.0])):
        changed = {**cfg, "neuron": {**cfg["neuron"], k: v}}
        assert stage_key("neuron", changed) != stage_key("neuron", cfg)


def test_training_uses_the_round_weights(tmp_path):
    """The training loop's loss is the weighted one: one epoch from the same seed differs."""
    from neuron.config import OptimConfig
    from neuron.train import Features, train_neuron

    f_s, f_t, sem, _ = _inputs(16)
    feats = Features(f_s=f_s, f_t=f_t, pooled=f_s.mean(2), labels=torch.arange(16) % C,
                     index=torch.arange(16))
    cfg = OptimConfig(epochs=1, batch_size=8, steps=[1])
    losses = []
    for w in (None, [0.0, 0.0, 1.0]):
        torch.manual_seed(0)
        model = Neuron(D, num_prototypes=16, compress_per_round=2, logit_scale=10.0, round_weights=w)
        res = train_neuron(model, feats, list(range(C)), sem, sem, cfg, 0, torch.device("cpu"),
                           progress=False)
        losses.append(res.history[-1]["loss"])
    assert losses[0] != losses[1]
