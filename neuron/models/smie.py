"""SMIE: zero-shot skeleton action recognition by mutual-information estimation (peer head).

Source: Y. Zhou et al., "Zero-Shot Skeleton-based Action Recognition via Mutual Information
Estimation and Maximization", ACM MM 2023 (arXiv 2308.03950), Sec. 3; official code
``YujieOuO/SMIE`` (commit fa41f1d), whose ``model.py`` / ``procedure.py`` this module follows.

Model (paper Sec. 3.2-3.3):

* a critic ``D(v, t)``: ``Linear(F + E, 1024) - ReLU - Linear(1024, 512) - ReLU - Linear(512, 1)``
  on the concatenation of a skeleton feature and a text embedding (PyTorch default init);
* Jensen-Shannon MI estimate ``I(v; t) = E_joint[-softplus(-D(v, t))] - E_marg[softplus(D(v', t))]``
  where ``v`` is the skeleton feature after a LayerNorm without affine parameters and the
  marginal pairs ``v'`` are the batch rolled by one sample;
* temporal constraint: a motion-attention temporal mask keeps the ``T - m`` steps with the
  smallest squared motion (previous and next difference), then a random ``T - 2m`` of them; the
  MI of the masked-sequence feature with the text (marginal pairs from the full-sequence
  feature) must stay ``margin`` below the full-sequence MI:
  ``loss = -I_full + 0.5 * max(0, margin - (I_full - I_masked))``;
* ZSL score of class ``c``: ``-softplus(-D(v, t_c))`` (log-sigmoid of the critic), with ``v`` the
  skeleton feature *without* the LayerNorm (as the official ``get_acc``; the setting
  ``ln_at_test`` applies the training LayerNorm instead).

Recipe (official ``config.py`` / ``procedure.py``, main track): Adam lr 1e-5, weight decay 0,
batch 128, 100 epochs, learning rate per epoch = linear warm-up from 0 over 15 epochs then a
cosine decay to 0 at epoch 100; margin 0.1; mask of 15 of 50 frames.

Deviations (each with its reason):

* The official main track masks the *input skeleton frames* and runs the frozen ST-GCN again;
  this harness trains heads on cached features, so the mask is applied to the temporal feature
  sequence ``f_t`` ``(N, F, T')`` (motion measured on features) and the masked feature is its
  mean over the kept steps (the frozen encoder's own pooling). The mask size is
  ``mask_frame`` = round(0.3 * T') steps by default (15 of 50 frames in the official code).
* No epoch selection: the official script reports the best test accuracy over epochs > 15;
  here the last epoch is used.
* GZSL is not part of SMIE's code; :meth:`SMIE.scores` gives the critic's scores over any class
  set and the harness applies calibrated stacking as to every method.
* The official ``CosineAnnealingLR`` object is created but never stepped, so it is omitted.
* The official feature-only "sota" track trains without the temporal constraint; the setting
  ``temporal_weight = 0`` reproduces it.
"""

from __future__ import annotations

import math
import random
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError
from neuron.models.peer_common import as_inputs, class_targets, merge_settings, minibatches

__all__ = ["SMIE", "DEFAULTS", "motion_attention_mask", "smie_lr"]

#: paper / official-config settings (main track)
DEFAULTS: dict[str, Any] = {
    "lr": 1e-5, "weight_decay": 0.0, "batch_size": 128, "epochs": 100, "warmup": 15,
    "schedule_epochs": 100, "margin": 0.1, "temporal_weight": 0.5, "mask_frame": None,
    "ln_at_test": False,
}


def smie_lr(epoch: int, lr_max: float, warmup: int = 15, max_epoch: int = 100) -> float:
    """Official per-epoch learning rate: ``lr_max * epoch / warmup`` during the warm-up, then a
    cosine from ``lr_max`` to 0 at ``max_epoch``."""
    if epoch < warmup:
        return lr_max * epoch / warmup
    return lr_max * (1 + math.cos(math.pi * (epoch - warmup) / (max_epoch - warmup))) / 2


def motion_attention_mask(seq: Tensor, mask_frame: int, rng: random.Random) -> Tensor:
    """Motion-attention temporal mask of a sequence ``(N, F, T)`` -> ``(N, F, T - 2 * mask_frame)``.

    Keeps the ``T - m`` steps with the least squared motion (forward plus backward difference,
    averaged over channels; ties as ``torch.topk``), in time order, then a random subset of
    ``T - 2m`` of them drawn with ``rng.sample`` (one draw shared by the batch), as the official
    ``motion_att_temp_mask2``.

    Raises:
        ConfigError: ``T - 2 * mask_frame < 1``.
    """
    n, c, t = seq.shape
    keep = t - mask_frame
    if keep - mask_frame < 1:
        raise ConfigError(f"SMIE: a mask of {mask_frame} steps leaves nothing of a sequence of {t}")
    pre = torch.zeros_like(seq)
    nex = torch.zeros_like(seq)
    pre[:, :, :-1] = seq[:, :, 1:] - seq[:, :, :-1]
    nex[:, :, 1:] = seq[:, :, :-1] - seq[:, :, 1:]
    att = (-(pre ** 2 + nex ** 2)).mean(1)
    idx = torch.sort(torch.topk(att, keep).indices, dim=1).values
    kept = seq.gather(2, idx[:, None, :].expand(n, c, keep))
    frames = sorted(rng.sample(range(keep), keep - mask_frame))
    return kept[:, :, frames]


class SMIE(nn.Module):
    """SMIE head: a mutual-information critic between skeleton features and text embeddings.

    Args:
        text_dim: E; feat_dim: F; cfg: settings overriding :data:`DEFAULTS`.

    Parameters (official name in brackets): ``critic.0`` / ``critic.2`` / ``critic.4``
    [``global_D.l0`` / ``l1`` / ``l2``].

    Raises:
        ConfigError: unknown settings or non-positive sizes.
    """

    name = "smie"

    def __init__(self, text_dim: int, feat_dim: int = 256, cfg: Mapping[str, Any] | None = None):
        super().__init__()
        self.cfg = merge_settings(DEFAULTS, cfg, "SMIE")
        if min(text_dim, feat_dim) < 1:
            raise ConfigError(f"SMIE: sizes must be >= 1 (text {text_dim}, feat {feat_dim})")
        self.text_dim, self.feat_dim = text_dim, feat_dim
        self.critic = nn.Sequential(nn.Linear(feat_dim + text_dim, 1024), nn.ReLU(), nn.Linear(1024, 512),
                                    nn.ReLU(), nn.Linear(512, 1))
        self._class_emb: Tensor | None = None

    def init_weights(self) -> None:
        """PyTorch default initialisation of the critic (global RNG), as the official code."""
        for m in self.critic:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def norm(self, v: Tensor) -> Tensor:
        """LayerNorm over features without affine parameters, ``(..., F)``."""
        return F.layer_norm(v, (self.feat_dim,))

    def critic_score(self, v: Tensor, t: Tensor) -> Tensor:
        """``D(v, t)`` ``(..., 1)`` for ``v`` ``(..., F)`` and ``t`` ``(..., E)``."""
        return self.critic(torch.cat([v, t], -1))

    def mutual_information(self, v: Tensor, t: Tensor) -> Tensor:
        """Jensen-Shannon MI estimate of paired ``v`` ``(B, F)`` and ``t`` ``(B, E)`` (scalar)."""
        v = self.norm(v)
        return self._jsd(v, v, t)

    def temporal_information(self, v_full: Tensor, v_masked: Tensor, t: Tensor) -> Tensor:
        """MI estimate with joint pairs from the masked feature and marginal pairs from the full one."""
        return self._jsd(self.norm(v_masked), self.norm(v_full), t)

    def _jsd(self, v_joint: Tensor, v_marg: Tensor, t: Tensor) -> Tensor:
        fake = torch.cat([v_marg[1:], v_marg[:1]], 0)
        return -F.softplus(-self.critic_score(v_joint, t)).mean() - F.softplus(self.critic_score(fake, t)).mean()

    def loss(self, pooled: Tensor, f_t: Tensor | None, t: Tensor, rng: random.Random) -> dict[str, Tensor]:
        """One batch: ``{"loss", "mi", "mi_masked"}``; ``pooled`` ``(B, F)``, ``f_t`` ``(B, F, T')`` or None."""
        mi = self.mutual_information(pooled, t)
        out = {"mi": mi, "loss": -mi}
        w = float(self.cfg["temporal_weight"])
        if w and f_t is not None:
            m = self.cfg["mask_frame"]
            m = int(round(0.3 * f_t.shape[-1])) if m is None else int(m)
            masked = motion_attention_mask(f_t, m, rng).mean(-1)
            mi1 = self.temporal_information(pooled, masked, t)
            out["mi_masked"] = mi1
            out["loss"] = -mi + w * torch.clamp(self.cfg["margin"] - (mi - mi1), min=0)
        return out

    def train_epoch(self, batches: Sequence[tuple], text: Tensor, epoch: int, opt: torch.optim.Optimizer,
                    rng: random.Random) -> list[float]:
        """One epoch over ``batches`` of ``(pooled (B, F), f_t (B, F, T') or None, class row (B,))``.

        Sets the epoch's learning rate (:func:`smie_lr`) first. Returns the batch losses.
        """
        lr = smie_lr(epoch, self.cfg["lr"], int(self.cfg["warmup"]), int(self.cfg["schedule_epochs"]))
        for g in opt.param_groups:
            g["lr"] = lr
        self.train()
        vals = []
        for pooled, f_t, y in batches:
            loss = self.loss(pooled, f_t, text[y], rng)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            vals.append(float(loss.detach()))
        return vals

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"])

    # ------------------------------------------------------------------ harness interface
    def fit(self, feats: Any, labels: Any, class_emb: Tensor, seen: Sequence[int],
            cfg: Mapping[str, Any] | None = None, seed: int = 0) -> dict:
        """Train the critic on the seen classes (paper recipe; see the module doc for deviations).

        Args:
            feats: a ``Features``-like object (``pooled`` and ``f_t``); a plain ``(N, F)`` tensor
                trains without the temporal constraint. labels ``(N,)`` dataset class ids (in
                ``seen``); class_emb ``(C_all, E)`` (L2-normalised here); seed: weights, batch
                order and masks.
        Returns: ``{"losses": [per-epoch mean loss]}``.
        """
        if cfg:
            self.cfg = merge_settings(self.cfg, cfg, "SMIE")
        torch.manual_seed(seed)
        self.init_weights()
        inp = as_inputs(feats)
        y = torch.as_tensor(labels).long()
        class_targets(y, seen)
        text = F.normalize(torch.as_tensor(class_emb).float(), dim=-1)
        self._class_emb = text
        opt = self.optimizer()
        gen = torch.Generator().manual_seed(seed)
        rng = random.Random(seed)
        history = []
        for epoch in range(int(self.cfg["epochs"])):
            batches = [(inp.pooled[b], None if inp.f_t is None else inp.f_t[b], y[b])
                       for b in minibatches(len(y), int(self.cfg["batch_size"]), gen)]
            history.append(float(np.mean(self.train_epoch(batches, text, epoch, opt, rng))))
        return {"losses": history}

    @torch.no_grad()
    def class_scores(self, v: Tensor, text: Tensor) -> Tensor:
        """``-softplus(-D(v_i, t_c))`` ``(N, C)`` for ``v`` ``(N, F)``, ``text`` ``(C, E)``."""
        self.eval()
        if self.cfg["ln_at_test"]:
            v = self.norm(v)
        n, c = v.shape[0], text.shape[0]
        d = self.critic_score(v[:, None].expand(n, c, v.shape[1]), text[None].expand(n, c, text.shape[1]))
        return -F.softplus(-d.squeeze(-1))

    def scores(self, feats: Any, class_emb: Tensor | None = None, classes: Sequence[int] | None = None) -> np.ndarray:
        """Scores ``(N, len(classes))`` (column j = class ``classes[j]``; default all classes).

        Raises:
            ConfigError: called before :meth:`fit` without ``class_emb``.
        """
        text = self._class_emb if class_emb is None else F.normalize(torch.as_tensor(class_emb).float(), dim=-1)
        if text is None:
            raise ConfigError("SMIE: scores() needs class_emb or a fitted model")
        if classes is not None:
            text = text[torch.as_tensor([int(c) for c in classes])]
        v = as_inputs(feats).pooled
        return torch.cat([self.class_scores(v[i:i + 512], text) for i in range(0, len(v), 512)]).numpy()
