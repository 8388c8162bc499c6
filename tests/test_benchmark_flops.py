"""The encoder benchmark's FLOP count (benchmarks/run.py): matrix products only, the temporal
shift's depthwise convolution uncounted, any other counted operator an error."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("neuron_benchmarks_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_counts_matrix_products_not_the_shift_convolution(bench):
    torch.manual_seed(0)
    x = torch.randn(8, 16, requires_grad=True)
    lin = torch.nn.Linear(16, 4)
    conv_in = torch.randn(2, 4, 6, 3, requires_grad=True)
    kernel = torch.randn(4, 1, 3, 1, requires_grad=True)
    with FlopCounterMode(display=False) as fc:
        y = lin(x).sum() + F.conv2d(conv_in, kernel, padding=(1, 0), groups=4).sum()
        y.backward()
    # forward addmm + backward grad-input mm + grad-weight mm, 2 * 8 * 16 * 4 each
    assert bench.matrix_product_flops(fc) == 3 * 2 * 8 * 16 * 4
    assert fc.get_total_flops() > bench.matrix_product_flops(fc)  # the convolution was seen


def test_encoder_count_is_the_same_for_both_shift_implementations(bench, monkeypatch):
    import neuron.models.shift_gcn as sg

    counts = []
    for reach in (1000, 0):  # depthwise convolution, gathers
        monkeypatch.setattr(sg, "_CONV_REACH", reach)
        torch.manual_seed(0)
        m = sg.ShiftGCN(5, num_point=5, num_person=1)
        with FlopCounterMode(display=False) as fc:
            F.cross_entropy(m(torch.randn(2, 3, 8, 5, 1)).logits, torch.tensor([0, 1])).backward()
        counts.append(bench.matrix_product_flops(fc))
    assert counts[0] == counts[1] > 0


def test_unexpected_counted_operator_is_an_error(bench):
    class Counted:  # what FlopCounterMode reports for a model with a scaled matrix product
        def get_flop_counts(self):
            return {"Global": {torch.ops.aten.mm: 10, torch.ops.aten._scaled_mm: 99}}

    with pytest.raises(RuntimeError, match="unexpected operator aten._scaled_mm"):
        bench.matrix_product_flops(Counted())
