"""The encoder benchmark's FLOP count: matrix products only (``torch.utils.flop_counter``).

Ungrouped convolutions (the pointwise maps run as 1x1 convolutions) are the matrix products they
are; the temporal shift's depthwise convolution is not counted; any other operator is an error.
"""
from __future__ import annotations

import torch
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

# The work counted: matrix products only, including the pointwise maps that run as 1x1
# convolutions. The temporal shift's interpolation is not counted in any implementation (a
# depthwise convolution in the current code, gathers and multiply-adds in earlier ones), so rows
# of different implementations count the same work. FlopCounterMode's own convolution_backward
# formula ignores ``groups`` (it would count a depthwise convolution's backward C times over).
MATRIX_PRODUCT_OPS = ("mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward")


# (the library's formulas are wrapped to take tensors or shapes, and the output as ``out_val``)
def _conv_groups_flops(standard, groups: int, w_shape) -> int:
    if groups == 1:
        return standard()
    if w_shape[1] == 1:  # depthwise: the temporal shift's interpolation, not a matrix product
        return 0
    raise RuntimeError(f"FLOP count: a grouped, non-depthwise convolution (groups={groups}, weight "
                       f"{list(w_shape)}); decide deliberately how to count it")


def _conv_fwd_flops(x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding,
                    groups, *args, out_shape=None, **kwargs) -> int:
    return _conv_groups_flops(lambda: flop_counter.conv_flop(
        x_shape, w_shape, bias, stride, padding, dilation, transposed, out_val=out_shape), groups, w_shape)


def _conv_bwd_flops(grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed,
                    output_padding, groups, output_mask, out_shape=None, **kwargs) -> int:
    return _conv_groups_flops(lambda: flop_counter.conv_backward_flop(
        grad_out_shape, x_shape, w_shape, bias, stride, padding, dilation, transposed, output_padding,
        groups, output_mask, out_val=out_shape), groups, w_shape)


def encoder_flop_counter() -> FlopCounterMode:
    """A ``FlopCounterMode`` (not displayed) that counts ungrouped convolutions as the matrix
    products they are and depthwise ones (the temporal shift) as zero.

    Raises (when counting):
        RuntimeError: a grouped convolution that is not depthwise.
    """
    aten = torch.ops.aten
    return FlopCounterMode(display=False, custom_mapping={aten.convolution: _conv_fwd_flops,
                                                          aten.convolution_backward: _conv_bwd_flops})


def matrix_product_flops(fc: FlopCounterMode) -> int:
    """FLOPs of the matrix products recorded by ``fc`` (made by :func:`encoder_flop_counter`):
    ``mm``, ``addmm``, ``bmm``, ``baddbmm`` and ungrouped convolutions.

    Raises:
        RuntimeError: ``fc`` counted another operator (the count would silently change meaning).
    """
    total = 0
    for op, n in fc.get_flop_counts()["Global"].items():
        name = getattr(op, "__name__", str(op)).split(".")[-1]
        if name not in MATRIX_PRODUCT_OPS:
            raise RuntimeError(f"FLOP count: unexpected operator {op} ({n} FLOPs); extend "
                               "MATRIX_PRODUCT_OPS deliberately")
        total += n
    return total
