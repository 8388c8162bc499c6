"""Shared plumbing of the peer heads (SMIE, SA-DVAE, STAR): inputs, targets, settings, batches.

Every peer is a head on frozen skeleton features and class text embeddings (the inputs of
:class:`neuron.models.GlobalAlignment`).  The features arrive either as a ``(N, F)`` tensor (the
pooled feature) or as any object with the attributes of ``neuron.train.Features``:

* ``pooled`` ``(N, F)``: global feature (mean over time and joints of the encoder cube);
* ``f_t`` ``(N, F, T')``: temporal feature sequence (cube mean over joints);
* ``f_s`` ``(N, F, V)``: per-joint feature (cube mean over time);
* ``layout`` (optional): the skeleton's joint layout (a name such as ``kinect_v1_20`` or a
  ``JointLayout``), read by peers that group joints (STAR's body parts).

Class embeddings are ``(C_all, E)`` with row ``c`` = dataset class id ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from neuron.errors import ConfigError

__all__ = ["PeerInputs", "as_inputs", "class_targets", "merge_settings", "minibatches"]


@dataclass
class PeerInputs:
    """Feature views a peer may read; absent views are ``None``. Shapes as in the module doc."""

    pooled: Tensor
    f_t: Tensor | None = None
    f_s: Tensor | None = None
    layout: Any = None

    def __len__(self) -> int:
        return self.pooled.shape[0]

    def rows(self, idx: Tensor) -> "PeerInputs":
        """The samples at positions ``idx`` (LongTensor)."""
        return PeerInputs(self.pooled[idx], None if self.f_t is None else self.f_t[idx],
                          None if self.f_s is None else self.f_s[idx], self.layout)

    def require(self, view: str, who: str) -> Tensor:
        """The view ``"f_t"`` / ``"f_s"`` / ``"pooled"``.

        Raises:
            ConfigError: the view is absent.
        """
        x = getattr(self, view)
        if x is None:
            raise ConfigError(f"{who}: needs the feature view '{view}' (a Features object), got a plain tensor")
        return x


def as_inputs(feats: Any) -> PeerInputs:
    """Coerce a ``(N, F)`` tensor / array or a ``Features``-like object to :class:`PeerInputs`.

    Raises:
        ConfigError: not 2-D pooled features, or views with a different sample count.
    """
    if isinstance(feats, PeerInputs):
        return feats
    if isinstance(feats, (Tensor, np.ndarray)):
        pooled, f_t, f_s, layout = torch.as_tensor(feats), None, None, None
    else:
        pooled = torch.as_tensor(getattr(feats, "pooled"))
        f_t = getattr(feats, "f_t", None)
        f_s = getattr(feats, "f_s", None)
        layout = getattr(feats, "layout", None)
        f_t = None if f_t is None else torch.as_tensor(f_t).float()
        f_s = None if f_s is None else torch.as_tensor(f_s).float()
    pooled = pooled.float()
    if pooled.dim() != 2:
        raise ConfigError(f"peer inputs: pooled features must be (N, F), got {tuple(pooled.shape)}")
    for name, x in (("f_t", f_t), ("f_s", f_s)):
        if x is not None and (x.dim() != 3 or x.shape[0] != pooled.shape[0]):
            raise ConfigError(f"peer inputs: {name} must be (N, F, L) with N={pooled.shape[0]}, got {tuple(x.shape)}")
    return PeerInputs(pooled, f_t, f_s, layout)


def class_targets(labels: Any, classes: Sequence[int]) -> Tensor:
    """Dataset class ids ``(N,)`` -> positions in ``classes`` ``(N,)`` (LongTensor).

    Raises:
        ConfigError: a label is not in ``classes``.
    """
    pos = {int(c): i for i, c in enumerate(classes)}
    out = []
    for y in torch.as_tensor(labels).view(-1).tolist():
        if int(y) not in pos:
            raise ConfigError(f"peer training: label {y} is not among the classes {list(classes)}")
        out.append(pos[int(y)])
    return torch.as_tensor(out, dtype=torch.long)


def merge_settings(defaults: Mapping[str, Any], cfg: Mapping[str, Any] | None, who: str) -> dict:
    """``defaults`` updated by ``cfg``.

    Raises:
        ConfigError: a key of ``cfg`` is not a known setting.
    """
    out = dict(defaults)
    for k, v in dict(cfg or {}).items():
        if k not in out:
            raise ConfigError(f"{who}: unknown setting '{k}' (known: {sorted(out)})")
        out[k] = v
    return out


def minibatches(n: int, batch_size: int, generator: torch.Generator, drop_last: bool = False) -> Iterator[Tensor]:
    """Shuffled index batches of ``range(n)`` drawn from ``generator`` (not the global RNG)."""
    perm = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield perm[i:i + batch_size]
