"""Tests of the pure-PyTorch adaptive temporal shift (neuron.models.shift_gcn.temporal_shift)."""

from __future__ import annotations

import math

import pytest
import torch

from neuron.models import TemporalShift, temporal_shift


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These tensors are tiny: one intra-op thread avoids OpenMP spin-waiting on a busy CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _naive(x: torch.Tensor, shift: torch.Tensor, stride: int) -> torch.Tensor:
    """Loop reference on (N, C, T, V): out[t] = interp(x, t*stride + shift + (stride-1)/2), zero outside."""
    N, C, T, V = x.shape
    T_out = math.ceil(T / stride)
    out = torch.zeros(N, C, T_out, V, dtype=x.dtype)
    for c in range(C):
        for t in range(T_out):
            p = t * stride + float(shift[c]) + (stride - 1) / 2
            lo = math.floor(p)
            w = p - lo
            for idx, wt in ((lo, 1 - w), (lo + 1, w)):
                if 0 <= idx < T:
                    out[:, c, t] += wt * x[:, c, idx]
    return out


def test_integer_shift_is_roll_with_zeros() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 4)
    shifts = [0, 1, -1, 3, -8]
    y = temporal_shift(x, torch.tensor(shifts, dtype=torch.float32))
    for c, s in enumerate(shifts):
        ref = torch.roll(x[:, c], shifts=-s, dims=1)
        if s > 0:
            ref[:, -s:] = 0
        elif s < 0:
            ref[:, :-s] = 0
        assert torch.equal(y[:, c], ref), (c, s)


def test_shift_beyond_length_gives_zeros() -> None:
    x = torch.randn(1, 2, 4, 3)
    y = temporal_shift(x, torch.tensor([10.0, -10.5]))
    assert torch.equal(y, torch.zeros_like(y))


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_fractional_and_strided_match_naive(stride: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 6, 11, 3, dtype=torch.float64)
    shift = torch.tensor([-2.7, -0.3, 0.0, 0.5, 1.25, 4.9], dtype=torch.float64)
    y = temporal_shift(x, shift, stride)
    assert y.shape == (2, 6, math.ceil(11 / stride), 3)
    assert torch.allclose(y, _naive(x, shift, stride))


@pytest.mark.parametrize("stride", [1, 2])
def test_channels_last_matches_channels_first(stride: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8, 3)
    shift = torch.randn(5) * 2
    a = temporal_shift(x, shift, stride)
    b = temporal_shift(x.permute(0, 2, 3, 1), shift, stride, time_dim=1, channel_dim=3)
    assert torch.allclose(a, b.permute(0, 3, 1, 2), atol=1e-6)


@pytest.mark.parametrize("stride", [1, 2])
def test_gradcheck_fractional(stride: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 3, dtype=torch.float64, requires_grad=True)
    shift = torch.tensor([-1.3, 0.4, 0.71, 2.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, s: temporal_shift(a, s, stride), (x, shift))
    xl = x.detach().permute(0, 2, 3, 1).contiguous().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, s: temporal_shift(a, s, stride, time_dim=1, channel_dim=3), (xl, shift)
    )


def test_module_learns_shift_and_validates() -> None:
    mod = TemporalShift(4, stride=2, init_scale=1.0)
    assert mod.shift.abs().max() <= 1.0
    y = mod(torch.randn(2, 8, 3, 4))
    assert y.shape == (2, 4, 3, 4)
    y.square().sum().backward()
    assert mod.shift.grad is not None and mod.shift.grad.shape == (4,)
    with pytest.raises(ValueError):
        temporal_shift(torch.randn(1, 3, 4, 2), torch.zeros(4))
    with pytest.raises(ValueError):
        temporal_shift(torch.randn(1, 3, 4, 2), torch.zeros(3), stride=0)


@pytest.fixture(params=["conv", "gather"])
def shift_path(request, monkeypatch):
    """Force one of the two implementations of the shift (conv: depthwise convolution; gather)."""
    import neuron.models.shift_gcn as sg

    monkeypatch.setattr(sg, "_CONV_REACH", 1000 if request.param == "conv" else 0)
    return request.param


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_both_paths_match_naive_and_gradcheck(shift_path: str, stride: int) -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 5, 9, 3, dtype=torch.float64, requires_grad=True)
    # negative, small, beyond the clip (all reads outside); no read position is an integer, where
    # the interpolation has a kink and finite differences disagree with either one-sided derivative
    shift = torch.tensor([-3.6, -0.7, 0.2, 0.35, 12.3], dtype=torch.float64, requires_grad=True)
    y = temporal_shift(x, shift, stride)
    assert torch.allclose(y, _naive(x.detach(), shift.detach(), stride))
    assert torch.autograd.gradcheck(lambda a, s: temporal_shift(a, s, stride), (x, shift))
    xl = x.detach().permute(0, 2, 3, 1).contiguous().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, s: temporal_shift(a, s, stride, time_dim=1, channel_dim=3), (xl, shift)
    )


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_and_gather_paths_agree(monkeypatch, stride: int) -> None:
    """Same output and gradients (input and shift, exact and official rules) from both paths on a
    Shift-GCN-sized channels-last tensor with shifts in (-1, 1), as trained encoders have."""
    import neuron.models.shift_gcn as sg

    torch.manual_seed(2)
    x = torch.randn(3, 16, 5, 8)
    shift = torch.rand(8) * 2 - 1
    g = torch.randn(3, (16 - 1) // stride + 1, 5, 8)
    res = {}
    for path, reach in (("conv", 1000), ("gather", 0)):
        monkeypatch.setattr(sg, "_CONV_REACH", reach)
        for rule in ("exact", "official"):
            xi, si = x.clone().requires_grad_(), shift.clone().requires_grad_()
            y = temporal_shift(xi, si, stride, time_dim=1, channel_dim=3, shift_grad=rule)
            y.backward(g)
            res[path, rule] = (y.detach(), xi.grad, si.grad)
    for rule in ("exact", "official"):
        for a, b in zip(res["conv", rule], res["gather", rule]):
            assert torch.allclose(a, b, atol=1e-5), rule


@pytest.mark.parametrize("stride", [1, 2])
def test_trained_shift_range_takes_the_convolution_path(monkeypatch, stride: int) -> None:
    """Shifts in (-1, 1), the range of trained encoders, run as the depthwise convolution (reach
    1 for stride 1, 2 for stride 2); a shift beyond ``_CONV_REACH`` runs the gather path."""
    import neuron.models.shift_gcn as sg

    calls = []
    real = sg._conv_shift
    monkeypatch.setattr(sg, "_conv_shift", lambda *a: calls.append(a[3]) or real(*a))
    x = torch.randn(2, 12, 3, 4)
    temporal_shift(x, torch.tensor([-0.99, -0.2, 0.4, 0.99]), stride, time_dim=1, channel_dim=3)
    assert calls == [stride]
    temporal_shift(x, torch.tensor([-0.5, 0.0, 0.5, sg._CONV_REACH + 0.5]), stride, time_dim=1, channel_dim=3)
    assert calls == [stride]  # the wide shift did not take the convolution path


def test_encoder_step_is_bitwise_repeatable() -> None:
    """Two identical training steps of the encoder (two threads, the convolution path) give
    bitwise equal gradients: CPU runs are reproducible."""
    from neuron.models import ShiftGCN

    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(2):
            torch.manual_seed(3)
            m = ShiftGCN(4, num_point=5, num_person=2)
            x = torch.randn(6, 3, 16, 5, 2)
            torch.nn.functional.cross_entropy(m(x).logits, torch.arange(6) % 4).backward()
            grads.append([p.grad.clone() for p in m.parameters()])
        assert all(torch.equal(a, b) for a, b in zip(*grads))
        assert any(float(g.abs().sum()) > 0 for g in grads[0])
    finally:
        torch.set_num_threads(1)
