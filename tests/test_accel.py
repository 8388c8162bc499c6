"""neuron.accel: everything is a no-op on CPU, selected by parameters."""
import contextlib

import pytest
import torch
from torch import nn

from neuron import accel


def test_autocast_is_noop_on_cpu():
    for p in accel.PRECISIONS:
        ctx = accel.autocast("cpu", p)
        assert isinstance(ctx, contextlib.nullcontext)
        with ctx:
            y = nn.Linear(4, 4)(torch.randn(2, 4))
        assert y.dtype == torch.float32
        assert accel.amp_dtype(torch.device("cpu"), p) is None
        assert accel.grad_scaler("cpu", p) is None
    with pytest.raises(ValueError):
        accel.autocast("cpu", "fp8")


def test_loader_kwargs():
    assert accel.loader_kwargs("cpu") == {"num_workers": 0, "pin_memory": False}
    kw = accel.loader_kwargs("cuda", 4)
    assert kw["pin_memory"] and kw["num_workers"] == 4 and kw["persistent_workers"]


def test_backward_step_and_channels_last_and_compile_off():
    m = nn.Linear(3, 1)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    w = m.weight.detach().clone()
    accel.backward_step(m(torch.ones(2, 3)).sum(), opt, None)
    assert not torch.equal(w, m.weight)
    x = torch.randn(1, 2, 3, 4)
    assert accel.maybe_channels_last(x, "cpu") is x
    assert accel.maybe_compile(m, "off") is m
