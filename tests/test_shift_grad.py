"""The temporal shift's gradient rules: ``exact`` (default) and ``official`` (the Shift-GCN CUDA
op's surrogate: 0.01 * sign of the exact gradient, 1e-4 where it is 0)."""
import pytest
import torch

from conftest import ROOT
from neuron import config
from neuron.errors import ConfigError
from neuron.models import ShiftGCN, TemporalShift, temporal_shift


@pytest.mark.parametrize("stride", [1, 2])
def test_official_gradient_is_the_sign_surrogate(stride):
    torch.manual_seed(0)
    x = torch.randn(3, 9, 4, 6, dtype=torch.float64, requires_grad=True)  # (N, T, V, C)
    shift = torch.tensor([-1.3, 0.4, 2.2, 0.0, -0.6, 30.0], dtype=torch.float64, requires_grad=True)
    g_out = torch.randn(3, (9 - 1) // stride + 1, 4, 6, dtype=torch.float64)
    grads = {}
    for rule in ("exact", "official"):
        x.grad = shift.grad = None
        y = temporal_shift(x, shift, stride, time_dim=1, channel_dim=3, shift_grad=rule)
        y.backward(g_out)
        grads[rule] = (x.grad.clone(), shift.grad.clone(), y.detach())
    (gx_e, gs_e, y_e), (gx_o, gs_o, y_o) = grads["exact"], grads["official"]
    assert torch.equal(y_e, y_o) and torch.equal(gx_e, gx_o)  # only the shift's gradient differs
    # channel 5 is shifted far outside the clip: its exact gradient is 0 -> official 1e-4
    assert gs_e[5] == 0 and gs_o[5] == pytest.approx(1e-4)
    expected = torch.where(gs_e != 0, 0.01 * torch.sign(gs_e), torch.full_like(gs_e, 1e-4))
    assert torch.equal(gs_o, expected)
    assert (gs_e[:5] != 0).all() and set(gs_o[:5].abs().tolist()) == {0.01}


def test_module_and_model_option():
    m = TemporalShift(4, shift_grad="official")
    x = torch.randn(2, 8, 3, 4)
    m(x).pow(2).sum().backward()
    g = m.shift.grad.abs()
    assert bool(((g - 0.01).abs() < 1e-9).logical_or((g - 1e-4).abs() < 1e-9).all())  # float32
    net = ShiftGCN(num_classes=3, num_point=5, num_person=1, shift_grad="official")
    assert {mod.shift_grad for mod in net.modules() if isinstance(mod, TemporalShift)} == {"official"}
    with pytest.raises(ConfigError, match="shift_grad"):
        ShiftGCN(num_classes=3, num_point=5, num_person=1, shift_grad="sign")


def test_run_key_and_encoder_cache_key():
    from types import SimpleNamespace

    from neuron.stages import encoder_key

    base = config.load_run_config(ROOT / "params/runs/smoke.yaml")
    assert base.encoder.shift_grad == "exact"
    off = config.load_run_config(ROOT / "params/runs/smoke.yaml", {"encoder": {"shift_grad": "official"}})
    with pytest.raises(ConfigError):
        config.load_run_config(ROOT / "params/runs/smoke.yaml", {"encoder": {"shift_grad": "sign"}})
    split = SimpleNamespace(seen=[0, 1], train=torch.arange(3).numpy())
    bundle = SimpleNamespace(pdata=SimpleNamespace(key="p"), split_spec=SimpleNamespace(name="s"), split=split)
    k_exact, k_off = encoder_key(base, bundle), encoder_key(off, bundle)
    assert k_exact != k_off
    # the default keeps the key encoders had before the option existed
    from neuron.config import to_dict
    from neuron.io import sha256_obj

    d = base.data
    optim = {k: v for k, v in to_dict(base.encoder).items() if k != "shift_grad"}
    old = sha256_obj({"processed": "p", "split": "s", "index": d.split_index, "seen": [0, 1], "seed": base.seed,
                      "window": d.window, "p": d.p_interval, "rot": d.random_rotation,
                      "min_crop": d.min_crop_frames, "stream": d.stream,
                      "val": d.val_fraction, "train": [0, 1, 2], "optim": optim})[:16]
    assert k_exact == old
