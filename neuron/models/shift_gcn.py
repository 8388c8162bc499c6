"""Shift-GCN skeleton encoder (Cheng et al., "Skeleton-Based Action Recognition with Shift Graph
Convolutional Network", CVPR 2020), in plain PyTorch.

This is an independent re-implementation of the architecture used as the frozen skeleton encoder
of Neuron (official code: ``cseeyangchen/Neuron``, ``model/shiftgcn_match.py``; original:
``kchengiva/Shift-GCN``).  Nothing here needs a CUDA extension: the adaptive temporal shift is a
fully differentiable PyTorch op (:func:`temporal_shift`: a depthwise temporal convolution built
from the shifts, or gathers for wide shifts).

Layout.  The public boundary is ``(N, C, T, V, M)``.  Internally the network runs
*channels-last*, ``(N*M, T, V, C)``, so that every pointwise linear map is a matrix product
over the last dimension (on CPU a oneDNN 1x1 convolution over the channels-last view, see
:func:`_pointwise`), the temporal shift a depthwise convolution over that view and the
non-local spatial shift one ``gather`` over the contiguous ``V*C`` axis, with no copy inside a
block.  Parameter shapes follow the
original (``weight (C_in, C_out)``, ``bias (1, 1, C_out)``, ``feature_mask (1, V, C_in)``, the
spatial BatchNorm over ``V*C_out`` in joint-major order, 1x1 "convolutions" stored as
``nn.Linear`` with the conv weight's ``(C_out, C_in)`` shape).

Deviations from the original, all deliberate:

* Temporal shift: the original CUDA op also carries a joint-axis shift ``xpos`` initialised to
  ``U(-1e-8, 1e-8)`` whose gradient is multiplied by 0, i.e. it never moves; it is omitted here.
  The original backward replaces the true gradient of the shift by ``0.01 * sign(grad)``
  (gradient averaged over the batch); here the shift receives by default the exact gradient of
  the linear interpolation (verified with ``gradcheck``); ``shift_grad="official"`` restores the
  surrogate.  Output length is ``ceil(T / stride)`` (equal to the
  original ``T // stride`` for even ``T``; the original fails for odd ``T`` because its strided
  residual produces ``ceil(T / 2)`` frames).
* The spatial shift works for any number of joints ``V`` (the original hard-codes 25).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError

__all__ = [
    "EncoderOutput",
    "FrozenEncoder",
    "ShiftGCN",
    "TemporalShift",
    "freeze",
    "spatial_shift_index",
    "split_cube",
    "temporal_shift",
]

FEATURE_DIM = 256  # output channels of the last TCN-GCN unit


class EncoderOutput(NamedTuple):
    """Output of :class:`ShiftGCN`.

    * ``logits``: ``(N, num_classes)`` classification logits (pre-training head).
    * ``pooled``: ``(N, 256)`` feature averaged over frames, joints and persons.
    * ``cube``: ``(N, 256, T', V)`` last feature map averaged over persons; ``T' = ceil(ceil(T/2)/2)``
      (``T/4`` for ``T`` divisible by 4).
    """

    logits: Tensor
    pooled: Tensor
    cube: Tensor


def split_cube(cube: Tensor) -> tuple[Tensor, Tensor]:
    """Split a feature cube ``(N, C, T', V)`` into spatial and temporal features.

    Returns ``(f_s, f_t)`` with ``f_s = cube.mean(time)`` of shape ``(N, C, V)`` and
    ``f_t = cube.mean(joints)`` of shape ``(N, C, T')`` (Neuron, Sec. 3.2 / 3.3 inputs).

    Raises:
        ValueError: ``cube`` is not 4-D.
    """
    if cube.dim() != 4:
        raise ConfigError(f"split_cube expects a (N, C, T', V) cube, got shape {tuple(cube.shape)}")
    return cube.mean(dim=2), cube.mean(dim=3)


# --------------------------------------------------------------------------------------------
# Temporal shift
# --------------------------------------------------------------------------------------------


SHIFT_GRADS = ("exact", "official")


def temporal_shift(
    x: Tensor,
    shift: Tensor,
    stride: int = 1,
    time_dim: int = 2,
    channel_dim: int = 1,
    shift_grad: str = "exact",
) -> Tensor:
    """Adaptive temporal shift with a learnable real-valued shift per channel (Shift-GCN Sec. 3.3).

    For output frame ``t`` and channel ``c`` the op reads the input at the real position
    ``p = t * stride + shift[c] + (stride - 1) / 2`` and linearly interpolates between frames
    ``floor(p)`` and ``floor(p) + 1``; frames outside ``[0, T)`` read as zero.  For ``stride = 1``
    and an integer shift ``s`` this is ``out[t] = x[t + s]`` with zero fill (a roll with zeros).
    The ``(stride - 1) / 2`` offset reproduces the original ``+0.5`` for stride 2.

    Args:
        x: a tensor whose dim 0 is the batch, e.g. ``(N, C, T, V)`` (the defaults) or
            channels-last ``(N, T, V, C)`` with ``time_dim=1, channel_dim=3``.
        shift: ``(C,)`` real shifts (in frames).  Differentiable: the gradient w.r.t. ``shift`` is
            the exact derivative of the interpolation (``x[floor(p)+1] - x[floor(p)]``).
        stride: temporal stride >= 1; the output has ``ceil(T / stride)`` frames.
        time_dim, channel_dim: positions of the time and channel axes (not 0).
        shift_grad: ``"exact"`` (default): the shift gets the exact gradient ``g_c``;
            ``"official"``: the surrogate of the official Shift-GCN CUDA op
            (``kchengiva/Shift-GCN``, ``model/Temporal_shift/cuda``, ``applyShiftConstraint``):
            ``0.01 * sign(g_c)``, and ``1e-4`` where ``g_c == 0`` (the official kernel averages the
            per-element terms over the batch before taking the sign, which leaves the sign
            unchanged). The input ``x`` gets its exact gradient either way.

    Returns:
        Tensor shaped like ``x`` with the time axis of length ``ceil(T / stride)``.

    Raises:
        ValueError: bad stride, axes, or a ``shift`` whose length is not the channel count.

    Implementation (exact gradients on both paths): while every read position lies within
    ``_CONV_REACH`` frames of the output frame (in the trained encoders checked every shift lies
    in (-1, 1): a reach of 1 for stride 1, 2 for stride 2), a depthwise convolution over time
    (``F.conv2d`` with ``groups=C`` and one ``(2 * reach + 1)``-tap kernel per channel holding the
    two interpolation weights ``1 - frac`` and ``frac``; zero padding gives the zero reads outside
    ``[0, T)``), built from the shift with autograd so the shift's gradient is the exact
    derivative of the kernel; it runs on CPU, in oneDNN, which reads channels-last input
    ``(N, T, V, C)`` in place. Wider reaches and other devices (where a convolution could silently
    run in TF32) use :class:`_TemporalShiftFn`: two ``gather``
    reads over the flattened non-batch axes with clamped frame indices (the frame-independent
    part of the index cached per shape), zeroing only the edge frames that read outside
    ``[0, T)``.
    """
    nd = x.dim()
    time_dim %= nd
    channel_dim %= nd
    if stride < 1:
        raise ConfigError(f"temporal_shift: stride must be >= 1, got {stride}")
    if time_dim == 0 or channel_dim == 0 or time_dim == channel_dim:
        raise ConfigError("temporal_shift: time_dim and channel_dim must differ and not be the batch dim 0")
    C = x.shape[channel_dim]
    if shift.shape != (C,):
        raise ConfigError(f"temporal_shift: shift must have shape ({C},), got {tuple(shift.shape)}")
    if shift_grad not in SHIFT_GRADS:
        raise ConfigError(f"temporal_shift: shift_grad must be one of {SHIFT_GRADS}, got {shift_grad!r}")
    pos = shift.to(x.dtype)
    if stride > 1:
        pos = pos + (stride - 1) / 2.0
    base = torch.floor(pos.detach())
    lo, hi = (int(b) for b in torch.aminmax(base))
    reach = max(-lo, hi + 1)  # farthest tap offset any channel reads
    # oneDNN on CPU; elsewhere the gathers (a cuDNN convolution could silently run in TF32)
    if reach <= _CONV_REACH and x.device.type == "cpu":
        return _conv_shift(x, pos, base, reach, stride, time_dim, channel_dim, shift_grad == "official")
    return _TemporalShiftFn.apply(x.contiguous(), pos, base, stride, time_dim, channel_dim,
                                  shift_grad == "official")


@functools.lru_cache(maxsize=64)
def _static_index(shape: tuple[int, ...], strides: tuple[int, ...], time_dim: int, channel_dim: int,
                  step: int, device: str) -> Tensor:
    """Flat (non-batch) offsets of every element of an output of ``shape`` read from a tensor with
    ``strides``, where output frame ``t`` reads frame ``t * step`` (the shift is added later).
    Cached: it depends only on shapes, so it is built once per layer geometry."""
    nd = len(shape)
    dev = torch.device(device)
    flat = torch.zeros((), dtype=torch.long, device=dev)
    for d in range(1, nd):
        vs = [1] * (nd - 1)
        vs[d - 1] = shape[d]
        k = strides[d] * (step if d == time_dim else 1)
        flat = flat + (torch.arange(shape[d], device=dev) * k).reshape(vs)
    return flat.expand(shape[1:]).contiguous()


def _flat_index(src: Tensor, shape: list[int], strides: tuple[int, ...], time_dim: int,
                channel_dim: int) -> Tensor:
    """Flat (non-batch) source offsets for every element of a tensor of ``shape`` whose time
    coordinate is replaced by ``src`` (indexed in ``(time, channel)`` axis order), read from a
    tensor with ``strides``."""
    nd = len(shape)
    dev = src.device

    def view_at(v: Tensor, dims: tuple[int, ...]) -> Tensor:
        vs = [1] * (nd - 1)
        for d in dims:
            vs[d - 1] = shape[d]
        return v.reshape(vs)

    flat = torch.zeros((), dtype=torch.long, device=dev)
    for d in range(1, nd):
        if d != time_dim:
            flat = flat + view_at(torch.arange(shape[d], device=dev) * strides[d], (d,))
    tc = tuple(sorted((time_dim, channel_dim)))
    return (flat + view_at(src * strides[time_dim], tc)).reshape(-1)


def _tc(a: Tensor, time_first: bool) -> Tensor:
    """``(T, C)`` -> axis order of (time, channel)."""
    return a if time_first else a.t()


# The depthwise-convolution path is used while every tap offset lies within this many frames
# (kernel of 2 * reach + 1 taps); in the trained encoders checked the reach is 1 (stride 1) or 2
# (stride 2). Wider reaches use the gather path.
_CONV_REACH = 3


class _OfficialShiftGrad(torch.autograd.Function):
    """Identity on the read positions whose backward replaces their gradient by the official
    Shift-GCN CUDA op's surrogate (:func:`_official_surrogate`)."""

    @staticmethod
    def forward(ctx, pos: Tensor) -> Tensor:
        return pos.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return _official_surrogate(grad)


def _conv_shift(x: Tensor, pos: Tensor, base: Tensor, reach: int, stride: int, time_dim: int,
                channel_dim: int, official: bool) -> Tensor:
    """Depthwise-convolution path of :func:`temporal_shift`.

    Output frame ``t`` of channel ``c`` is ``sum_j w[c, j] * x[t * stride + j]`` over tap offsets
    ``j = -reach .. reach`` with ``w[c, floor(pos_c)] = 1 - frac_c`` and
    ``w[c, floor(pos_c) + 1] = frac_c`` (all other taps 0), i.e. ``F.conv2d`` over
    ``(N, C, T, rest)`` with ``groups=C``, stride ``(stride, 1)`` and zero padding ``reach``.
    ``pos``: ``(C,)`` read positions of output frame 0 (differentiable); ``base = floor(pos)``.
    """
    if official:
        pos = _OfficialShiftGrad.apply(pos)
    C = pos.shape[0]
    frac = pos - base
    taps = torch.arange(-reach, reach + 1, device=x.device, dtype=x.dtype)
    at_base = (taps == base[:, None]).to(x.dtype)  # (C, K) one-hot of floor(pos)
    at_next = (taps == base[:, None] + 1).to(x.dtype)
    kernel = (1 - frac)[:, None] * at_base + frac[:, None] * at_next  # (C, K)
    xc = x.movedim((channel_dim, time_dim), (1, 2))  # (N, C, T, *rest); a view
    rest = xc.shape[3:]
    out = F.conv2d(xc.reshape(xc.shape[0], C, xc.shape[2], -1), kernel.view(C, 1, -1, 1),
                   stride=(stride, 1), padding=(reach, 0), groups=C)
    return out.reshape(out.shape[0], C, out.shape[2], *rest).movedim((1, 2), (channel_dim, time_dim))


class _TemporalShiftFn(torch.autograd.Function):
    """Gather implementation of the interpolating shift (used for reaches beyond ``_CONV_REACH``
    and off CPU):
    two gathers (edge frames zeroed), one in-place interpolation; backward: gathers only (no
    scatter, no zero-filled buffers). The gradient w.r.t. the shift is
    ``sum(grad * (x[floor(p)+1] - x[floor(p)]))`` per channel (zero outside the input)."""

    @staticmethod
    def forward(ctx, x: Tensor, pos: Tensor, base: Tensor, stride: int, time_dim: int, channel_dim: int,
                official: bool = False) -> Tensor:
        # pos: (C,) read positions of output frame 0 (stride offset included); base = floor(pos)
        frac = pos - base
        base = base.long()
        ctx.geom = (list(x.shape), stride, time_dim, channel_dim, official)
        out, diff = _gather_shift(x, base, frac, stride, time_dim, channel_dim)
        ctx.save_for_backward(diff, base, frac)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        diff, base, frac = ctx.saved_tensors
        in_shape, stride, time_dim, channel_dim, official = ctx.geom
        nd = len(in_shape)
        grad = grad.contiguous()
        g_x = g_pos = None
        if ctx.needs_input_grad[1]:
            if channel_dim == nd - 1:
                g_pos = (grad * diff).view(-1, diff.shape[-1]).sum(0)
            else:
                g_pos = (grad * diff).sum(dim=[d for d in range(nd) if d != channel_dim])
            if official:
                g_pos = _official_surrogate(g_pos)
        if ctx.needs_input_grad[0]:
            T = in_shape[time_dim]
            C = in_shape[channel_dim]
            T_out = grad.shape[time_dim]
            dev, dt = grad.device, grad.dtype
            s = torch.arange(T, device=dev)[:, None] - base[None, :]  # (T, C): s - base
            time_first = time_dim < channel_dim
            w_shape = [1] * nd
            w_shape[time_dim] = T
            w_shape[channel_dim] = C
            gf = grad.reshape(grad.shape[0], -1)
            g_x = None
            for k, wt in ((0, 1.0 - frac), (1, frac)):
                num = s - k  # input frame s is read as src_k by output frame t = (s - base - k) / stride
                t_in = torch.div(num, stride, rounding_mode="floor")
                ok = (num - t_in * stride == 0) & (t_in >= 0) & (t_in < T_out)
                w = (ok.to(dt) * wt[None, :])
                idx = _flat_index(_tc(t_in.clamp(0, T_out - 1), time_first), in_shape, grad.stride(),
                                  time_dim, channel_dim)
                term = torch.gather(gf, 1, idx.expand(gf.shape[0], -1)).view(in_shape)
                w = _tc(w, time_first).reshape(w_shape)
                g_x = term.mul_(w) if g_x is None else g_x.addcmul_(term, w)
        return g_x, g_pos, None, None, None, None, None


def _official_surrogate(g_pos: Tensor) -> Tensor:
    """The official CUDA op's shift gradient (``applyShiftConstraint``): ``0.01 * sign``, 1e-4 at 0."""
    return torch.where(g_pos != 0, 0.01 * torch.sign(g_pos), torch.full_like(g_pos, 1e-4))


def _gather_shift(x: Tensor, base: Tensor, frac: Tensor, stride: int, time_dim: int,
                  channel_dim: int) -> tuple[Tensor, Tensor]:
    """Gather path of the forward: ``(out, diff)`` with ``diff = x[floor(p)+1] - x[floor(p)]``
    (saved for the shift's gradient)."""
    nd = x.dim()
    T = x.shape[time_dim]
    C = x.shape[channel_dim]
    T_out = (T - 1) // stride + 1
    t = torch.arange(T_out, device=x.device) * stride
    src0 = t[:, None] + base[None, :]  # (T_out, C) frame read by tap 0; tap 1 reads src0 + 1
    out_shape = list(x.shape)
    out_shape[time_dim] = T_out
    st = x.stride()
    time_first = time_dim < channel_dim
    tc_shape = [1] * (nd - 1)  # (T_out, C) placed on the (time, channel) axes, batch dropped
    tc_shape[time_dim - 1] = T_out
    tc_shape[channel_dim - 1] = C
    static = _static_index(tuple(out_shape), tuple(st), time_dim, channel_dim, 0, str(x.device))
    xf = x.reshape(x.shape[0], -1)
    taps = []
    for k in (0, 1):  # clamped reads; the few edge frames that read outside [0, T) are zeroed
        src = src0 + k
        idx = (static + (_tc(src.clamp(0, T - 1), time_first) * st[time_dim]).reshape(tc_shape)).reshape(-1)
        g = torch.gather(xf, 1, idx.expand(xf.shape[0], -1)).view(out_shape)
        bad = ((src < 0) | (src >= T)).any(dim=1)  # (T_out,) frames with an outside read
        if bool(bad.any()):
            frames = bad.nonzero().flatten()
            valid = ((src >= 0) & (src < T)).to(x.dtype)[frames]  # (n_bad, C)
            w_shape = [1] * nd
            w_shape[time_dim] = frames.numel()
            w_shape[channel_dim] = C
            sel = g.index_select(time_dim, frames).mul_(_tc(valid, time_first).reshape(w_shape))
            g.index_copy_(time_dim, frames, sel)
        taps.append(g)
    g0, diff = taps[0], taps[1].sub_(taps[0])
    fr = frac.view([C if d == channel_dim else 1 for d in range(nd)])
    return g0.addcmul_(diff, fr), diff


class TemporalShift(nn.Module):
    """Learnable per-channel temporal shift (see :func:`temporal_shift`) for channels-last input.

    Input ``(B, T, V, C)``, output ``(B, ceil(T/stride), V, C)``.  The shift parameter ``(C,)`` is
    initialised ``U(-init_scale, init_scale)`` as in Shift-GCN; ``shift_grad`` selects its
    gradient rule (``exact`` or ``official``, see :func:`temporal_shift`).
    """

    def __init__(self, channels: int, stride: int = 1, init_scale: float = 1.0, shift_grad: str = "exact") -> None:
        super().__init__()
        if shift_grad not in SHIFT_GRADS:
            raise ConfigError(f"TemporalShift: shift_grad must be one of {SHIFT_GRADS}, got {shift_grad!r}")
        self.stride = int(stride)
        self.shift_grad = shift_grad
        self.shift = nn.Parameter(torch.empty(channels).uniform_(-init_scale, init_scale))

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.shift, self.stride, time_dim=1, channel_dim=3, shift_grad=self.shift_grad)


# --------------------------------------------------------------------------------------------
# Building blocks (channels-last: (B, T, V, C))
# --------------------------------------------------------------------------------------------


class _ChannelBN(nn.BatchNorm1d):
    """BatchNorm over the last (channel) axis of any tensor; same statistics as ``BatchNorm2d``
    over ``(N, C, T, V)`` and the same parameter/buffer names and shapes."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).view(shape)


def _pointwise(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int = 1, relu: bool = False) -> Tensor:
    """Pointwise linear map of channels-last ``x (B, T, V, C_in)`` with ``weight (C_out, C_in)``
    and ``bias (C_out,)``, reading frames ``0, stride, 2 * stride, ...``; ReLU in place if asked.
    Returns ``(B, ceil(T / stride), V, C_out)`` (contiguous).

    On CPU it runs as a 1x1 convolution over the channels-last view ``(B, C, T, V)``: oneDNN's
    1x1 convolution kernels were 1.06-1.38x as fast as the BLAS matrix product for these thin
    ``C_in = 64-256`` products, forward plus backward, in an isolated timing, the whole training
    step 1.18-1.20x (``benchmarks/run.py --ab``, README), and they read strided frames without a
    copy. Elsewhere it is ``F.linear`` (on CUDA a convolution could silently
    use TF32 where matrix products do not).
    """
    if x.device.type == "cpu" and _POINTWISE_CONV:
        out = F.conv2d(x.permute(0, 3, 1, 2), weight[:, :, None, None], bias, stride=(stride, 1))
        return (out.relu_() if relu else out).permute(0, 2, 3, 1)
    if stride > 1:
        x = x[:, ::stride]
    shape = x.shape
    # ReLU in place on the 2-D result, not on a 4-D view of it: an in-place op on a view makes
    # autograd copy the whole base in backward
    out = F.linear(x.reshape(-1, shape[-1]), weight, bias)
    return (out.relu_() if relu else out).view(*shape[:-1], -1)


# Pointwise linear maps on CPU run as oneDNN 1x1 convolutions (see :func:`_pointwise`); False
# selects ``F.linear`` everywhere (tests compare the two).
_POINTWISE_CONV = True


def _linear_kaiming_fan_out(lin: nn.Linear) -> nn.Linear:
    # A 1x1 conv with kaiming_normal(mode='fan_out') as in the original conv_init.
    nn.init.kaiming_normal_(lin.weight, mode="fan_out")
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)
    return lin


def spatial_shift_index(num_point: int, channels: int, direction: int = 1) -> Tensor:
    """Index for the non-local spatial shift over a flattened ``(V*C)`` axis (joint-major).

    With ``direction=+1``, output ``(i, j)`` (joint ``i``, channel ``j``) reads input
    ``((i + j) mod V, j)``; with ``direction=-1`` it reads ``((i - j) mod V, j)`` (the shift back).
    Returns a ``(V*C,)`` long tensor (an index for ``index_select`` / ``gather`` along that axis).
    """
    i = torch.arange(num_point)[:, None]
    j = torch.arange(channels)[None, :]
    return (((i + direction * j) % num_point) * channels + j).reshape(-1)


class _Permute(torch.autograd.Function):
    """``x.index_select(1, perm)`` for a permutation ``perm`` of the columns of a 2-D ``x``, run as
    ``gather`` with the index expanded over rows (about twice as fast as ``index_select`` over
    dim 1 on CPU, and multi-threaded); backward gathers with the inverse
    permutation instead of scattering into a zero-filled buffer."""

    @staticmethod
    def forward(ctx, x: Tensor, perm: Tensor, inv: Tensor) -> Tensor:
        ctx.save_for_backward(inv)
        return torch.gather(x, 1, perm.expand(x.shape[0], -1))

    @staticmethod
    def backward(ctx, grad: Tensor):
        (inv,) = ctx.saved_tensors
        grad = grad.contiguous()
        return torch.gather(grad, 1, inv.expand(grad.shape[0], -1)), None, None


class ShiftGraphConv(nn.Module):
    """Non-local spatial shift graph convolution (Shift-GCN Sec. 3.2), channels-last.

    shift-in (channel ``j`` of joint ``i`` read from joint ``(i + j) mod V``), feature mask
    ``tanh(mask) + 1`` of shape ``(V, C_in)``, pointwise linear map ``C_in -> C_out`` + bias,
    shift-out (the inverse shift), BatchNorm over ``V*C_out``, plus a (projected) residual and ReLU.
    Input ``(B, T, V, C_in)``, output ``(B, T, V, C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_point: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_point = num_point
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels).normal_(0, math.sqrt(1.0 / out_channels)))
        self.bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.feature_mask = nn.Parameter(torch.zeros(1, num_point, in_channels))
        self.bn = nn.BatchNorm1d(num_point * out_channels)
        if in_channels != out_channels:
            self.down: nn.Module | None = nn.Sequential(
                _linear_kaiming_fan_out(nn.Linear(in_channels, out_channels)), _ChannelBN(out_channels)
            )
        else:
            self.down = None
        self.register_buffer("shift_in", spatial_shift_index(num_point, in_channels, +1), persistent=False)
        self.register_buffer("shift_out", spatial_shift_index(num_point, out_channels, -1), persistent=False)
        # inverse permutations (for the backward gathers)
        self.register_buffer("shift_in_inv", torch.argsort(self.shift_in), persistent=False)
        self.register_buffer("shift_out_inv", torch.argsort(self.shift_out), persistent=False)

    def forward(self, x0: Tensor) -> Tensor:
        B, T, V, C = x0.shape
        if V != self.num_point or C != self.in_channels:
            raise ConfigError(
                f"ShiftGraphConv expects (B, T, {self.num_point}, {self.in_channels}), got {tuple(x0.shape)}"
            )
        x = _Permute.apply(x0.reshape(B * T, V * C), self.shift_in, self.shift_in_inv).view(B * T, V, C)
        x = x * (torch.tanh(self.feature_mask) + 1)
        x = _pointwise(x.view(B, T, V, C), self.weight.t(), self.bias.view(-1))  # (B, T, V, C_out)
        x = _Permute.apply(x.reshape(B * T, V * self.out_channels), self.shift_out, self.shift_out_inv)
        x = self.bn(x).view(B, T, V, self.out_channels)
        res = x0 if self.down is None else self.down[1](_pointwise(x0, self.down[0].weight, self.down[0].bias))
        return torch.add(x, res).relu_()  # in place on the sum: one full-size allocation fewer


class ShiftTemporalConv(nn.Module):
    """Shift temporal convolution (Shift-GCN Sec. 3.3), channels-last.

    BN -> temporal shift (stride 1) -> pointwise linear -> ReLU -> temporal shift (stride) -> BN.
    Input ``(B, T, V, C_in)``, output ``(B, ceil(T/stride), V, C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shift_grad: str = "exact") -> None:
        super().__init__()
        self.bn = _ChannelBN(in_channels)
        self.shift_in = TemporalShift(in_channels, stride=1, init_scale=1.0, shift_grad=shift_grad)
        self.linear = _linear_kaiming_fan_out(nn.Linear(in_channels, out_channels))
        self.shift_out = TemporalShift(out_channels, stride=stride, init_scale=1.0, shift_grad=shift_grad)
        self.bn2 = _ChannelBN(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.shift_in(self.bn(x))
        x = _pointwise(x, self.linear.weight, self.linear.bias, relu=True)
        return self.bn2(self.shift_out(x))


class _StridedProjection(nn.Module):
    """Residual path ``x[:, ::stride] -> linear -> BN`` (a 1x1 strided conv + BN)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.linear = _linear_kaiming_fan_out(nn.Linear(in_channels, out_channels))
        self.bn = _ChannelBN(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(_pointwise(x, self.linear.weight, self.linear.bias, stride=self.stride))


class TCNGCNUnit(nn.Module):
    """One Shift-GCN block: ``relu(tcn(gcn(x)) + residual(x))`` (channels-last)."""

    def __init__(self, in_channels: int, out_channels: int, num_point: int, stride: int = 1, residual: bool = True,
                 shift_grad: str = "exact"):
        super().__init__()
        self.gcn = ShiftGraphConv(in_channels, out_channels, num_point)
        self.tcn = ShiftTemporalConv(out_channels, out_channels, stride=stride, shift_grad=shift_grad)
        self.has_residual = residual
        if residual and (in_channels != out_channels or stride != 1):
            self.residual: nn.Module | None = _StridedProjection(in_channels, out_channels, stride)
        else:
            self.residual = None

    def forward(self, x: Tensor) -> Tensor:
        y = self.tcn(self.gcn(x))
        if self.has_residual:
            return torch.add(y, x if self.residual is None else self.residual(x)).relu_()
        return F.relu(y)


_LAYERS = (  # (in, out, stride, residual)
    (None, 64, 1, False),
    (64, 64, 1, True),
    (64, 64, 1, True),
    (64, 64, 1, True),
    (64, 128, 2, True),
    (128, 128, 1, True),
    (128, 128, 1, True),
    (128, 256, 2, True),
    (256, 256, 1, True),
    (256, 256, 1, True),
)


class ShiftGCN(nn.Module):
    """Shift-GCN encoder/classifier (Cheng et al. CVPR 2020), the skeleton encoder of Neuron.

    Data BatchNorm over ``M*V*C``; ten TCN-GCN units with 64, 64, 64, 64, 128 (stride 2), 128,
    128, 256 (stride 2), 256, 256 channels (the first without residual, as in the original); global
    average pooling over frames, joints and persons; a linear classifier.

    Args:
        num_classes: classes of the pre-training head (the seen classes).
        num_point: joints V (20 for Kinect v1 / NW-UCLA-style, 25 for NTU).
        num_person: persons M of the input (1 or 2).
        in_channels: input channels C (3 for xyz).
        shift_grad: gradient rule of the temporal shifts: ``"exact"`` (default) or ``"official"``
            (the Shift-GCN CUDA op's ``0.01 * sign`` surrogate; :func:`temporal_shift`). Run key
            ``encoder.shift_grad``.

    ``forward(x)`` takes ``(N, C, T, V, M)`` and returns :class:`EncoderOutput`
    ``(logits (N, num_classes), pooled (N, 256), cube (N, 256, T', V))``, ``T' = ceil(T/4)``.

    Raises:
        ValueError: invalid sizes at construction, or an input whose C, V or M do not match.
    """

    def __init__(self, num_classes: int, num_point: int, num_person: int, in_channels: int = 3,
                 shift_grad: str = "exact") -> None:
        super().__init__()
        if shift_grad not in SHIFT_GRADS:
            raise ConfigError(f"ShiftGCN: shift_grad must be one of {SHIFT_GRADS}, got {shift_grad!r}")
        self.shift_grad = shift_grad
        for name, val in (("num_classes", num_classes), ("num_point", num_point), ("num_person", num_person),
                          ("in_channels", in_channels)):
            if int(val) < 1:
                raise ConfigError(f"ShiftGCN: {name} must be >= 1, got {val}")
        self.num_classes = num_classes
        self.num_point = num_point
        self.num_person = num_person
        self.in_channels = in_channels
        self.data_bn = nn.BatchNorm1d(num_person * num_point * in_channels)
        layers = []
        for cin, cout, stride, residual in _LAYERS:
            layers.append(TCNGCNUnit(in_channels if cin is None else cin, cout, num_point, stride, residual,
                                     shift_grad))
        self.layers = nn.ModuleList(layers)
        self.fc = nn.Linear(FEATURE_DIM, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> EncoderOutput:
        if x.dim() != 5:
            raise ConfigError(f"ShiftGCN expects (N, C, T, V, M) input, got shape {tuple(x.shape)}")
        N, C, T, V, M = x.shape
        if (C, V, M) != (self.in_channels, self.num_point, self.num_person):
            raise ConfigError(
                f"ShiftGCN built for C={self.in_channels}, V={self.num_point}, M={self.num_person}; "
                f"got input shape {tuple(x.shape)}"
            )
        # (N, C, T, V, M) -> (N, T, M, V, C): data BN over features (m, v, c) with stats over (N, T).
        x = x.permute(0, 2, 4, 3, 1).reshape(N * T, M * V * C)
        x = self.data_bn(x).view(N, T, M, V, C)
        x = x.transpose(1, 2).reshape(N * M, T, V, C)  # (N*M, T, V, C)
        for layer in self.layers:
            x = layer(x)
        _, T2, _, D = x.shape
        x = x.view(N, M, T2, V, D)
        pooled = x.mean(dim=(1, 2, 3))  # (N, D)
        cube = x.mean(dim=1).permute(0, 3, 1, 2)  # (N, D, T', V)
        return EncoderOutput(self.fc(pooled), pooled, cube)


# --------------------------------------------------------------------------------------------
# Freezing
# --------------------------------------------------------------------------------------------


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode and set ``requires_grad=False`` on all its parameters.

    Note: a later ``parent.train()`` switches it back to training mode (BatchNorm statistics would
    then update); re-call ``.eval()`` afterwards, or use :class:`FrozenEncoder`, which cannot leave
    eval mode.  Returns the module.
    """
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class FrozenEncoder(nn.Module):
    """A pre-trained encoder frozen for Neuron training (the official code freezes Shift-GCN).

    Parameters get ``requires_grad=False``; the wrapper stays in eval mode whatever ``train()``
    is called with, so BatchNorm running statistics never change; ``forward`` runs under
    ``torch.no_grad()`` and returns the encoder's :class:`EncoderOutput` (detached).
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = freeze(encoder)
        self.train(False)

    def train(self, mode: bool = True) -> "FrozenEncoder":
        super().train(False)
        return self

    def forward(self, x: Tensor) -> EncoderOutput:
        with torch.no_grad():
            return self.encoder(x)
