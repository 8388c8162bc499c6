"""Global alignment baseline: one pooled skeleton feature against one embedding per class.

A reference point for Neuron in the same harness: no prototypes, no rounds, no spatial/temporal
split.  The pooled encoder feature ``(N, 256)`` goes through an MLP to the text dimension D, is
L2-normalised and compared by cosine with the (given, L2-normalised here) mean embedding of each
class's descriptions.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError
from neuron.models.neuron import OFFICIAL_LOGIT_SCALE

__all__ = ["GlobalAlignment", "global_alignment_loss"]


class GlobalAlignment(nn.Module):
    """Pooled feature -> MLP -> cosine with class embeddings.

    ``logits = logit_scale * cos(normalize(MLP(pooled)), normalize(class_emb))`` where the MLP is
    ``Linear(feat_dim, hidden) - ReLU - Linear(hidden, text_dim)``.  ``logit_scale`` is a
    multiplier with the same semantics as :class:`neuron.models.Neuron`; its default is the
    Neuron official value 0.1 so the two heads differ only in the representation.

    Args:
        text_dim: D (768 or 384).
        feat_dim: pooled feature size (256).
        hidden: MLP hidden width (512).
        logit_scale: multiplier of the cosine.

    ``forward(pooled (N, feat_dim), class_emb (C, D)) -> logits (N, C)``.  ``class_emb`` is
    typically the mean over a class's K description embeddings (``sem.mean(1)`` of a
    ``(C, K, D)`` tensor); it is L2-normalised here.

    Raises:
        ValueError (``neuron.errors.ConfigError``): non-positive sizes; in ``forward``, shapes that
        do not match ``feat_dim`` / ``text_dim``.
    """

    def __init__(self, text_dim: int, feat_dim: int = 256, hidden: int = 512, logit_scale: float = OFFICIAL_LOGIT_SCALE):
        super().__init__()
        if min(text_dim, feat_dim, hidden) < 1:
            raise ConfigError(f"GlobalAlignment: sizes must be >= 1, got text_dim={text_dim}, feat_dim={feat_dim}, hidden={hidden}")
        self.text_dim = text_dim
        self.feat_dim = feat_dim
        self.logit_scale = float(logit_scale)
        self.mlp = nn.Sequential(nn.Linear(feat_dim, hidden), nn.ReLU(), nn.Linear(hidden, text_dim))

    def embed(self, pooled: Tensor) -> Tensor:
        """``(N, feat_dim)`` -> ``(N, D)`` L2-normalised skeleton embedding."""
        if pooled.dim() != 2 or pooled.shape[1] != self.feat_dim:
            raise ConfigError(f"GlobalAlignment: pooled must be (N, {self.feat_dim}), got {tuple(pooled.shape)}")
        return F.normalize(self.mlp(pooled), p=2, dim=1)

    def forward(self, pooled: Tensor, class_emb: Tensor) -> Tensor:
        if class_emb.dim() != 2 or class_emb.shape[1] != self.text_dim:
            raise ConfigError(f"GlobalAlignment: class_emb must be (C, {self.text_dim}), got {tuple(class_emb.shape)}")
        return self.logit_scale * self.embed(pooled) @ F.normalize(class_emb, p=2, dim=1).t()


def global_alignment_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy of :class:`GlobalAlignment` logits ``(N, C)`` against ``(N,)`` class indices."""
    return F.cross_entropy(logits, target)
