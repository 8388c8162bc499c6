"""Load weights saved by the official Neuron code into this package's models.

The official code (``cseeyangchen/Neuron``, ``model/shiftgcn_match.py``) names and lays out its
parameters differently from :mod:`neuron.models`:

* ``ModelMatch`` (the Neuron head): ``spatial_prototype.weight`` / ``temporal_prototype.weight``
  are ``nn.Embedding`` tables ``(80, 256)`` (ours: plain parameters of the same shape); the
  per-round MLPs ``update_spatial.r``, ``update_temporal.r``, ``memory_temporal.r``,
  ``recall_temporal.r`` and the projections ``spatial_project`` / ``temporal_project`` have the same
  names and shapes as ours; ``fc_spatial`` / ``fc_temporal`` are the templates the per-round MLPs
  were deep-copied from and are not used in ``forward`` (ignored here). The frozen encoder sits
  under ``feature_extractor.``.
* ``Model`` (Shift-GCN): units ``l1`` .. ``l10`` (ours ``layers.0`` .. ``layers.9``) of a
  ``Shift_gcn`` ``gcn1`` and a ``Shift_tcn`` ``tcn1``, channels-first ``(N, C, T, V)``. 1x1
  convolutions are ``Conv2d`` weights ``(C_out, C_in, 1, 1)`` (ours ``nn.Linear`` ``(C_out, C_in)``
  on channels-last input); ``Linear_weight (C_in, C_out)``, ``Linear_bias (1, 1, C_out)``,
  ``Feature_Mask (1, V, C_in)`` map one-to-one onto ``weight``, ``bias``, ``feature_mask``; the
  spatial shift indices ``shift_in`` / ``shift_out`` are stored by the official code and computed
  by ours (checked equal here); the temporal shift's ``ypos (C,)`` is our ``shift`` and its
  joint-axis ``xpos`` (initialised ``U(-1e-8, 1e-8)``, never trained) is dropped.

Only the head and the spatial graph-convolution unit are checked against numbers produced by the
official code (``tests/test_fidelity.py``); the temporal-shift mapping follows the CUDA kernel's
indexing (output frame ``t`` reads input ``t * stride + ypos`` (+0.5 for stride 2)) and is not
checked against official outputs.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from neuron.errors import ConfigError

__all__ = [
    "convert_official_encoder",
    "convert_official_gcn_unit",
    "convert_official_head",
    "load_official_state",
]

#: ModelMatch entries that exist in the official state but are not used by its forward pass.
IGNORED_HEAD_PREFIXES = ("fc_spatial.", "fc_temporal.")
#: Largest joint-axis shift ``xpos`` accepted (the official op never trains it; init 1e-8).
MAX_XPOS = 1e-4


def _tensor(v: Any) -> Tensor:
    if isinstance(v, Tensor):
        return v.detach().clone()
    return torch.from_numpy(np.array(v))


def _strip(state: Mapping[str, Any], prefix: str) -> dict[str, Tensor]:
    """Entries of ``state`` under ``prefix`` (also under ``module.`` + prefix), prefix removed."""
    out = {}
    for k, v in state.items():
        k2 = k[len("module."):] if k.startswith("module.") else k
        if k2.startswith(prefix):
            out[k2[len(prefix):]] = _tensor(v)
    return out


def convert_official_head(state: Mapping[str, Any], prefix: str = "") -> dict[str, Tensor]:
    """Official ``ModelMatch`` head entries -> a :class:`neuron.models.Neuron` state dict.

    Args:
        state: the official state dict (tensors or numpy arrays), e.g. ``torch.load`` of a
            ``main_match.py`` checkpoint; encoder entries (``feature_extractor.*``) are skipped.
        prefix: key prefix of the head's entries (e.g. ``"head."``).

    Returns:
        ``{our name: tensor}`` for ``Neuron(rounds=3, temporal_memory=True)`` (both branches).

    Raises:
        ValueError (``ConfigError``): no head entries under ``prefix``.
    """
    src = _strip(state, prefix)
    out: dict[str, Tensor] = {}
    for k, v in src.items():
        if k.startswith("feature_extractor.") or k.startswith(IGNORED_HEAD_PREFIXES):
            continue
        if k in ("spatial_prototype.weight", "temporal_prototype.weight"):
            out[k[: -len(".weight")]] = v
        else:
            out[k] = v
    if not out:
        raise ConfigError(f"convert_official_head: no ModelMatch head entries under prefix {prefix!r}")
    return out


def _official_shift_index(num_point: int, channels: int, direction: int) -> Tensor:
    from neuron.models.shift_gcn import spatial_shift_index

    return spatial_shift_index(num_point, channels, direction)


def convert_official_gcn_unit(state: Mapping[str, Any], prefix: str = "", num_point: int | None = None
                              ) -> dict[str, Tensor]:
    """One official ``Shift_gcn`` unit -> a ``neuron.models.shift_gcn.ShiftGraphConv`` state dict.

    ``Linear_weight (C_in, C_out)`` -> ``weight``; ``Linear_bias (1, 1, C_out)`` -> ``bias``;
    ``Feature_Mask (1, V, C_in)`` -> ``feature_mask``; ``bn.*`` (BatchNorm1d over ``V*C_out``,
    joint-major) -> ``bn.*``; ``down.0`` ``Conv2d (C_out, C_in, 1, 1)`` -> ``down.0`` ``Linear
    (C_out, C_in)``; ``down.1.*`` -> ``down.1.*``. The official ``shift_in`` / ``shift_out`` index
    buffers are checked against ours (we compute them) and not returned.

    Raises:
        ValueError (``ConfigError``): missing entries, or shift indices that differ from ours.
    """
    src = _strip(state, prefix)
    try:
        w = src["Linear_weight"]
    except KeyError:
        raise ConfigError(f"convert_official_gcn_unit: no Linear_weight under prefix {prefix!r}") from None
    c_in, c_out = w.shape
    V = int(src["Feature_Mask"].shape[1]) if num_point is None else num_point
    out = {"weight": w, "bias": src["Linear_bias"], "feature_mask": src["Feature_Mask"]}
    for k, v in src.items():
        if k.startswith("bn."):
            out[k] = v
        elif k == "down.0.weight":
            out[k] = v.reshape(v.shape[0], v.shape[1])
        elif k.startswith("down."):
            out[k] = v
    for name, ch, direction in (("shift_in", c_in, +1), ("shift_out", c_out, -1)):
        if name in src and not torch.equal(src[name].long(), _official_shift_index(V, ch, direction)):
            raise ConfigError(f"convert_official_gcn_unit: {prefix}{name} is not the Shift-GCN "
                              f"spatial shift for V={V}, C={ch}")
    return out


def _conv1x1(v: Tensor) -> Tensor:
    return v.reshape(v.shape[0], v.shape[1]) if v.dim() == 4 else v


def convert_official_encoder(state: Mapping[str, Any], prefix: str | None = None) -> dict[str, Tensor]:
    """Official Shift-GCN ``Model`` entries -> a :class:`neuron.models.ShiftGCN` state dict.

    Args:
        state: a pre-training checkpoint (keys ``l1.gcn1...``, possibly ``module.``-prefixed) or a
            ``ModelMatch`` state (keys ``feature_extractor.l1...``).
        prefix: key prefix; ``None`` picks ``feature_extractor.`` when present, else ``""``.

    Returns:
        ``{our name: tensor}``: ``data_bn``, ``layers.{i-1}.gcn`` (see
        :func:`convert_official_gcn_unit`), ``layers.{i-1}.tcn`` (``bn``, ``bn2``,
        ``shift_in.shift`` = ``ypos``, ``linear`` = ``temporal_linear``, ``shift_out.shift``),
        ``layers.{i-1}.residual`` (``linear`` = ``conv``, ``bn``) and ``fc``.

    Raises:
        ValueError (``ConfigError``): no encoder entries, or a joint-axis shift ``xpos`` that
        is not ~0 (our temporal shift has none).
    """
    if prefix is None:
        prefix = "feature_extractor." if any(
            k.removeprefix("module.").startswith("feature_extractor.") for k in state) else ""
    src = _strip(state, prefix)
    out: dict[str, Tensor] = {}
    units: dict[int, dict[str, Tensor]] = {}
    for k, v in src.items():
        m = re.match(r"l(\d+)\.(.*)$", k)
        if m:
            units.setdefault(int(m.group(1)), {})[m.group(2)] = v
        elif k.startswith(("data_bn.", "fc.")):
            out[k] = v
    if not units:
        raise ConfigError(f"convert_official_encoder: no Shift-GCN units (l1..l10) under prefix {prefix!r}")
    for i, u in sorted(units.items()):
        dst = f"layers.{i - 1}."
        for k, v in convert_official_gcn_unit(u, "gcn1.").items():
            out[dst + "gcn." + k] = v
        for k, v in u.items():
            if k.startswith("tcn1.bn.") or k.startswith("tcn1.bn2."):
                out[dst + "tcn." + k[len("tcn1."):]] = v
            elif k.startswith("tcn1.temporal_linear."):
                out[dst + "tcn.linear." + k.rsplit(".", 1)[1]] = _conv1x1(v)
            elif k in ("tcn1.shift_in.ypos", "tcn1.shift_out.ypos"):
                out[dst + "tcn." + k.split(".")[1] + ".shift"] = v
            elif k in ("tcn1.shift_in.xpos", "tcn1.shift_out.xpos"):
                if float(v.abs().max()) > MAX_XPOS:
                    raise ConfigError(f"convert_official_encoder: {prefix}l{i}.{k} has joint-axis shifts up to "
                                      f"{float(v.abs().max()):.3g}; only ~0 (untrained) is supported")
            elif k.startswith("residual.conv."):
                out[dst + "residual.linear." + k.rsplit(".", 1)[1]] = _conv1x1(v)
            elif k.startswith("residual.bn."):
                out[dst + k] = v
    return out


def load_official_state(state: Mapping[str, Any], neuron: nn.Module | None = None,
                        encoder: nn.Module | None = None, head_prefix: str = "",
                        encoder_prefix: str | None = None) -> None:
    """Load an official checkpoint's weights into our modules (strict: every parameter and
    buffer of the given modules must be filled, every converted entry must be used).

    Args:
        state: official state dict (``torch.load(path, weights_only=True)`` of a ``main_match.py``
            or Shift-GCN pre-training checkpoint, or numpy arrays).
        neuron: a :class:`neuron.models.Neuron` built with the official configuration
            (``rounds=3``, both branches, temporal memory, ``feat_dim=256``, ``text_dim=768``).
        encoder: a :class:`neuron.models.ShiftGCN` of the same sizes.
        head_prefix, encoder_prefix: key prefixes (see the converters).

    Raises:
        ValueError (``ConfigError``): missing or unexpected entries, or shape mismatches, naming
        them.
    """
    for module, conv, name in ((neuron, lambda: convert_official_head(state, head_prefix), "Neuron"),
                               (encoder, lambda: convert_official_encoder(state, encoder_prefix), "ShiftGCN")):
        if module is None:
            continue
        sd = conv()
        own = module.state_dict()
        missing = sorted(set(own) - set(sd))
        unexpected = sorted(set(sd) - set(own))
        if missing or unexpected:
            raise ConfigError(f"load_official_state: {name} entries missing from the official state: "
                              f"{missing[:8]}; official entries without a place: {unexpected[:8]}")
        bad = [k for k in own if tuple(own[k].shape) != tuple(sd[k].shape)]
        if bad:
            raise ConfigError("load_official_state: shape mismatch for " + ", ".join(
                f"{k} ours {tuple(own[k].shape)} official {tuple(sd[k].shape)}" for k in bad[:8]))
        module.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()})
