"""Accelerator helpers: mixed precision, channels-last, DataLoader settings, ``torch.compile``.

Everything here is selected by parameters and is a no-op on CPU (the default fp32 path is
bit-for-bit unchanged), so callers can use the helpers unconditionally::

    from neuron import accel
    model = accel.maybe_compile(model, cfg.compile)          # 'off' | 'default' | 'max-autotune'
    scaler = accel.grad_scaler(device, cfg.precision)         # None unless fp16 on CUDA
    loader = DataLoader(ds, **accel.loader_kwargs(device, cfg.num_workers), ...)
    with accel.autocast(device, cfg.precision):
        loss = step(model, batch)
    accel.backward_step(loss, opt, scaler)

Proposed config keys (top level of a run config, all optional):

* ``precision: fp32 | bf16 | fp16`` -- autocast dtype on CUDA (``fp32`` default; ``bf16`` is the
  recommended GPU setting on Ampere+; ``fp16`` adds a dynamic ``GradScaler``).  On CPU anything
  other than ``fp32`` is ignored (CPU autocast is slower than fp32 for this model family).
* ``num_workers: int`` -- DataLoader worker processes (0 = in-process, the CPU default).
* ``channels_last: bool`` -- kept for completeness; Shift-GCN already runs channels-last
  internally (``(N*M, T, V, C)``), so this only affects 4-D conv models.
* ``compile: off | default | reduce-overhead | max-autotune`` -- wrap the model with
  ``torch.compile`` (falls back to eager with a warning if compilation fails).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch
from torch import nn

__all__ = [
    "PRECISIONS",
    "amp_dtype",
    "autocast",
    "backward_step",
    "grad_scaler",
    "loader_kwargs",
    "maybe_channels_last",
    "maybe_compile",
]

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _device(device: torch.device | str) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device)


def amp_dtype(device: torch.device | str, precision: str = "fp32") -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    Mixed precision is only enabled on CUDA; on CPU (and MPS) this returns ``None``.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    dev = _device(device)
    if precision == "fp32" or dev.type != "cuda":
        return None
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        warnings.warn("bf16 not supported on this GPU; using fp16", stacklevel=2)
        return torch.float16
    return _DTYPES[precision]


def autocast(device: torch.device | str, precision: str = "fp32"):
    """Context manager: ``torch.autocast`` on CUDA for bf16/fp16, a no-op otherwise."""
    dtype = amp_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device | str, precision: str = "fp32") -> "torch.amp.GradScaler | None":
    """A ``GradScaler`` for fp16 on CUDA (bf16 and fp32 need none); ``None`` otherwise."""
    if amp_dtype(device, precision) is torch.float16:
        return torch.amp.GradScaler("cuda")
    return None


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer,
                  scaler: "torch.amp.GradScaler | None" = None) -> None:
    """``zero_grad``, backward and optimiser step, through ``scaler`` when one is given."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def loader_kwargs(device: torch.device | str, num_workers: int = 0) -> dict[str, Any]:
    """DataLoader keyword arguments: pinned memory on CUDA, worker processes when asked.

    ``persistent_workers`` and a prefetch factor are set only with workers (PyTorch rejects them
    otherwise).  Pass the returned dict on with ``DataLoader(ds, **loader_kwargs(...), ...)``.
    """
    dev = _device(device)
    kw: dict[str, Any] = {"num_workers": int(num_workers), "pin_memory": dev.type == "cuda"}
    if num_workers > 0:
        kw["persistent_workers"] = True
        kw["prefetch_factor"] = 4
    return kw


def maybe_channels_last(module_or_tensor, device: torch.device | str, enabled: bool = True):
    """Convert a 4-D conv model / input to ``channels_last`` on CUDA when ``enabled``.

    Shift-GCN needs no conversion (it runs channels-last internally); returned unchanged on CPU.
    """
    if not enabled or _device(device).type != "cuda":
        return module_or_tensor
    if isinstance(module_or_tensor, torch.Tensor):
        return module_or_tensor.contiguous(memory_format=torch.channels_last) \
            if module_or_tensor.dim() == 4 else module_or_tensor
    return module_or_tensor.to(memory_format=torch.channels_last)


class _CompileFallback(nn.Module):
    """Runs the compiled module; on the first failure warns once and runs eager from then on."""

    def __init__(self, module: nn.Module, compiled) -> None:
        super().__init__()
        self.module = module
        self._compiled = compiled
        self._failed = False

    def forward(self, *args, **kwargs):
        if not self._failed:
            try:
                return self._compiled(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - any backend failure falls back to eager
                warnings.warn(f"torch.compile failed ({type(e).__name__}: {e}); running eager",
                              stacklevel=2)
                self._failed = True
        return self.module(*args, **kwargs)


def maybe_compile(module: nn.Module, mode: str | bool | None = "off", dynamic: bool = False) -> nn.Module:
    """``torch.compile(module)`` when ``mode`` is not ``off``, with an eager fallback.

    The returned wrapper shares parameters with ``module``; save ``module.state_dict()`` (not the
    wrapper's) so checkpoints stay loadable without compilation.
    """
    if mode in (None, False, "off", "none", "eager"):
        return module
    mode_arg = None if mode in (True, "default", "on") else str(mode)
    try:
        compiled = torch.compile(module, mode=mode_arg, dynamic=dynamic)
    except Exception as e:  # noqa: BLE001
        warnings.warn(f"torch.compile unavailable ({e}); running eager", stacklevel=2)
        return module
    return _CompileFallback(module, compiled)
