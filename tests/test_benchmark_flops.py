"""The encoder benchmark's FLOP count (benchmarks.flops): matrix products only (ungrouped
convolutions are matrix products), the temporal shift's depthwise convolution uncounted, any
other counted operator an error."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmarks import flops as bench


def test_counts_matrix_products_and_pointwise_convolutions_not_the_shift():
    torch.manual_seed(0)
    x = torch.randn(8, 16, requires_grad=True)
    lin = torch.nn.Linear(16, 4)
    img = torch.randn(2, 4, 6, 3, requires_grad=True)  # (N, C, T, V)
    depthwise = torch.randn(4, 1, 3, 1, requires_grad=True)
    pointwise = torch.randn(5, 4, 1, 1, requires_grad=True)
    with bench.encoder_flop_counter() as fc:
        lin(x).sum().backward()
    # forward addmm + backward grad-input mm + grad-weight mm, 2 * 8 * 16 * 4 each
    assert bench.matrix_product_flops(fc) == 3 * 2 * 8 * 16 * 4
    with bench.encoder_flop_counter() as fc:
        F.conv2d(img, depthwise, padding=(1, 0), groups=4).sum().backward()
    assert bench.matrix_product_flops(fc) == 0
    with bench.encoder_flop_counter() as fc:
        F.conv2d(img, pointwise).sum().backward()
    # the 1x1 convolution is a (2*6*3, 4) @ (4, 5) product: forward, grad-input, grad-weight
    assert bench.matrix_product_flops(fc) == 3 * 2 * (2 * 6 * 3) * 4 * 5


def test_encoder_count_is_the_same_for_every_implementation(monkeypatch):
    """Same count for the temporal shift as convolution or gathers and the pointwise maps as 1x1
    convolutions or F.linear."""
    import neuron.models.shift_gcn as sg

    counts = []
    for reach, conv in ((1000, True), (0, True), (1000, False), (0, False)):
        monkeypatch.setattr(sg, "_CONV_REACH", reach)
        monkeypatch.setattr(sg, "_POINTWISE_CONV", conv)
        torch.manual_seed(0)
        m = sg.ShiftGCN(5, num_point=5, num_person=1)
        with bench.encoder_flop_counter() as fc:
            F.cross_entropy(m(torch.randn(2, 3, 8, 5, 1)).logits, torch.tensor([0, 1])).backward()
        counts.append(bench.matrix_product_flops(fc))
    assert len(set(counts)) == 1 and counts[0] > 0


def test_unexpected_operators_are_errors():
    class Counted:  # what FlopCounterMode reports for a model with a scaled matrix product
        def get_flop_counts(self):
            return {"Global": {torch.ops.aten.mm: 10, torch.ops.aten._scaled_mm: 99}}

    with pytest.raises(RuntimeError, match="unexpected operator aten._scaled_mm"):
        bench.matrix_product_flops(Counted())
    with pytest.raises(RuntimeError, match="grouped, non-depthwise"):
        with bench.encoder_flop_counter():
            F.conv2d(torch.randn(1, 4, 3, 3), torch.randn(4, 2, 1, 1), groups=2)
