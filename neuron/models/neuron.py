"""Neuron: context-aware evolving representations for zero-shot skeleton action recognition.

Chen, Guo, Guo, Tao, CVPR 2025.  Independent re-implementation following the official code
(``cseeyangchen/Neuron``, ``model/shiftgcn_match.py`` class ``ModelMatch`` and ``main_match.py``).
Section numbers refer to the paper's method section as given in the project brief (Sec. 3.2
spatial evolution, 3.3 temporal evolution, 3.4 stepwise alignment); they were not checked against
the paper text, which was not available offline.

The frozen skeleton encoder lives outside this module: :class:`Neuron` takes the encoder's feature
cube split into ``f_s (N, 256, V)`` and ``f_t (N, 256, T')`` (see
:func:`neuron.models.shift_gcn.split_cube`), so features can be cached.

Logit semantics (official code): for round ``r`` and class ``c``,
``logit[n, c] = logit_scale * mean(topk_k(cos(rep_r[n], desc_{r,c,j}) for j in 1..K))`` with
``k = 10 = K`` and ``logit_scale = 0.1`` -- the mean cosine is *multiplied* by 0.1 (not divided by a
temperature), so logits lie in ``[-0.1, 0.1]`` and the softmax stays close to uniform.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError

__all__ = [
    "DEFAULT_WINDOWS",
    "FUSIONS",
    "OFFICIAL_LOGIT_SCALE",
    "OFFICIAL_TOP_K",
    "Neuron",
    "NeuronOutput",
    "align_logits",
    "neuron_loss",
]

OFFICIAL_LOGIT_SCALE = 0.1  # logits = 0.1 * mean top-k cosine (multiplicative)
OFFICIAL_TOP_K = 10  # = K descriptions per class and level, i.e. the plain mean
DEFAULT_WINDOWS = (5 / 16, 10 / 16, 1.0)  # official: f_t[:, :, :5], [:, :, :10], all of T' = 16
FUSIONS = ("mean_log_softmax", "sum_softmax", "spatial", "temporal")
ALIGNMENTS = ("topk_mean", "unit_mean", "class_mean")
MASK_VALUE = 1e-12  # official multiplier for compressed (masked) prototypes


class NeuronOutput(NamedTuple):
    """Output of :class:`Neuron` (lists are per round, round 1 first; empty if the branch is off).

    * ``spatial_logits``: list of ``(N, C)``; ``temporal_logits``: list of ``(N, C)``.
    * ``scores``: ``(N, C)`` fused final-round scores (see ``Neuron`` ``fusion``).
    * ``spatial_reps`` / ``temporal_reps``: list of ``(N, D)`` L2-normalised representations.
    * ``spatial_prototypes`` / ``temporal_prototypes``: list of ``(N, P, 256)`` per-sample
      micro-prototypes after each round's update (``temporal_prototypes`` are the ``Q_r`` of
      the paper's Fig. 5 heatmaps).
    * ``temporal_attention``: list of ``(N, T_r, P)`` pre-softmax frame/prototype similarities of
      each round (``T_r`` = window length), as stored by the official code.
    """

    spatial_logits: list[Tensor]
    temporal_logits: list[Tensor]
    scores: Tensor
    spatial_reps: list[Tensor]
    temporal_reps: list[Tensor]
    spatial_prototypes: list[Tensor]
    temporal_prototypes: list[Tensor]
    temporal_attention: list[Tensor]


def _mlp(dim: int) -> nn.Sequential:
    # Official update/memory/recall MLP: Linear-ReLU-Linear-ReLU (ReLU after both layers).
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())


def align_logits(rep: Tensor, sem: Tensor, top_k: int | None, logit_scale: float) -> Tensor:
    """Stepwise-alignment logits of one round (Sec. 3.4).

    Args:
        rep: ``(N, D)`` L2-normalised representation.
        sem: ``(C, K, D)`` description embeddings (normalised here along D).
        top_k: average the ``top_k`` largest of the K cosines per class (``None``: all K).
        logit_scale: multiplier of the averaged cosine.

    Returns:
        ``(N, C)`` logits ``logit_scale * mean(topk(cos, top_k))``.

    Raises:
        ValueError: ``top_k`` larger than K or smaller than 1.
    """
    sem = F.normalize(sem, p=2, dim=-1)
    cos = torch.einsum("nd,ckd->nck", rep, sem)
    K = sem.shape[1]
    k = K if top_k is None else top_k
    if not 1 <= k <= K:
        raise ConfigError(f"top_k={top_k} must be between 1 and the number of descriptions K={K}")
    if k < K:
        cos = cos.topk(k, dim=2).values
    return cos.mean(dim=2) * logit_scale


class Neuron(nn.Module):
    """Neuron zero-shot head on top of a frozen encoder's feature cube.

    Spatial branch (Sec. 3.2), per round ``r = 1..rounds``, starting from the shared learnable
    prototypes ``P (num_prototypes, feat_dim)`` (``N(0, 1)`` init as ``nn.Embedding``):
    ``S = f_s^T P_{r-1}`` ``(N, V, P)``; for every joint the ``compress_per_round * r`` prototypes
    with the lowest similarity (ranked by the softmax over prototypes) get weight multiplier 1e-12;
    joint weights ``A = softmax_V(S) * mask``; per-sample prototypes ``P_r = MLP_r(f_s A)``
    ``(N, P, feat_dim)``; representation ``normalize(ReLU(W_s mean_P(P_r)))`` ``(N, D)``.  Round
    ``r + 1`` starts from ``P_r``.  As in the official code the compressed prototypes are *not*
    dropped: their aggregated feature is ~0 and they still pass through the MLP and the mean.

    Temporal branch (Sec. 3.3), starting from ``Q (num_prototypes, feat_dim)``: round ``r`` sees the
    first ``round(windows[r] * T')`` frames of ``f_t``; ``A = softmax_time(f_t^T Q_{r-1})``;
    ``u = f_t A`` ``(N, P, feat_dim)``; with temporal memory
    ``Q_r = sigmoid(recall_r(u)) * Q_{r-1} + sigmoid(memory_r(u)) * update_r(u)``, without it
    ``Q_r = update_r(u)``; representation ``normalize(ReLU(W_t mean_P(Q_r)))``.

    Alignment (Sec. 3.4): round ``r`` is scored against semantic level ``r`` with
    :func:`align_logits` (``logit_scale * mean of the top_k cosines``).  The projections
    ``W_s``/``W_t`` (Linear + ReLU) are shared over rounds; the per-round MLPs are
    Linear-ReLU-Linear-ReLU.  As in the official code (``copy.deepcopy`` of one template), the three
    spatial update MLPs and all temporal memory/recall MLPs start as copies of one template and the
    three temporal update MLPs as copies of a second one.

    Args:
        text_dim: D, the text-embedding size (768 or 384).
        feat_dim: encoder feature size (256).
        num_prototypes: P micro-prototypes per branch (80).
        rounds: evolving rounds (1..3); round r uses semantic level r.
        compress_per_round: prototypes masked per joint per round (x r); 0 disables compression.
        temporal_memory: gated memory update (True) or plain ``Q_r = update_r(u)`` (False).
        use_spatial, use_temporal: enable the branches (at least one).
        windows: fraction of T' seen by each round, length ``rounds``; ``None`` (default) means
            ``DEFAULT_WINDOWS[:rounds]`` = (5/16, 10/16, 1.0)[:rounds].  (Deviation from the brief's
            signature, which has the 3-tuple as default: with it ``rounds < 3`` would always raise.)
        top_k: cosines averaged per class (``None`` = all K; official 10 = K).
        logit_scale: multiplier on the averaged cosine (official 0.1).
        fusion: ``"mean_log_softmax"`` (the run's name, :mod:`neuron.config`) or its former name
            ``"sum_softmax"``: ``scores`` is softmax(spatial) + softmax(temporal) of the final
            round as in the official code (with one branch off, that branch's softmax; evaluation
            fuses with :func:`neuron.train.fused_final_round` instead); ``"spatial"`` or
            ``"temporal"`` (softmax of that branch's final-round logits).
        alignment: the class target a representation is compared with (a named variant; the
            paper configuration is ``"topk_mean"``):
            ``"topk_mean"`` (official): mean of the ``top_k`` cosines to the K descriptions of
            the round's level, i.e. for ``top_k = K`` the dot product with the *un-renormalised*
            mean description, whose norm differs per class and so scales that class's logits;
            ``"unit_mean"``: cosine to the L2-normalised mean of the round's level (``top_k``
            ignored); ``"class_mean"``: cosine to the L2-normalised mean of all descriptions of
            all levels of both branches, the global-alignment baseline's class target (every
            round then sees the same target).
        project_relu: ``True`` (official) keeps the ReLU after the projections ``W_s``/``W_t``,
            so representations are non-negative; ``False`` (a named variant) drops it.
        round_logit_scales: a named variant: one logit scale per round (length ``rounds``)
            instead of ``logit_scale`` for all; ``None`` (default) = ``logit_scale`` everywhere.
        round_weights: a named variant of the loss: non-negative weights of the rounds' cross-
            entropies (length ``rounds``, positive sum), read by :func:`neuron_loss` through the
            training loop; ``None`` (default, official) = the plain mean over rounds.

    Raises:
        ValueError (``neuron.errors.ConfigError``): rounds not in 1..3; ``windows`` length not
        ``rounds`` or a window outside (0, 1]; ``compress_per_round < 0`` or
        ``compress_per_round * rounds >= num_prototypes`` (would mask every prototype); both
        branches off; unknown fusion or a fusion naming a disabled branch; non-positive sizes.
        In ``forward``: feature or semantic shapes that do not match (wrong D, fewer levels than
        rounds, different class counts between branches, K < top_k).
        ``round_logit_scales`` / ``round_weights`` not of length ``rounds``, non-finite,
        non-positive scales, negative weights or weights summing to 0.
    """

    def __init__(
        self,
        text_dim: int,
        feat_dim: int = 256,
        num_prototypes: int = 80,
        rounds: int = 3,
        compress_per_round: int = 20,
        temporal_memory: bool = True,
        use_spatial: bool = True,
        use_temporal: bool = True,
        windows: Sequence[float] | None = None,
        top_k: int | None = OFFICIAL_TOP_K,
        logit_scale: float = OFFICIAL_LOGIT_SCALE,
        fusion: str = "sum_softmax",
        alignment: str = "topk_mean",
        project_relu: bool = True,
        round_logit_scales: Sequence[float] | None = None,
        round_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if text_dim < 1 or feat_dim < 1 or num_prototypes < 1:
            raise ConfigError(
                f"Neuron: text_dim, feat_dim and num_prototypes must be >= 1, got {text_dim}, {feat_dim}, {num_prototypes}"
            )
        if not isinstance(rounds, int) or not 1 <= rounds <= 3:
            raise ConfigError(f"Neuron: rounds must be 1, 2 or 3 (one per semantic level), got {rounds!r}")
        if windows is None:
            windows = DEFAULT_WINDOWS[:rounds]
        windows = tuple(float(w) for w in windows)
        if len(windows) != rounds:
            raise ConfigError(f"Neuron: windows must have one entry per round ({rounds}), got {len(windows)}: {windows}")
        if any(not (0.0 < w <= 1.0) for w in windows):
            raise ConfigError(f"Neuron: every window must be a fraction in (0, 1], got {windows}")
        if compress_per_round < 0:
            raise ConfigError(f"Neuron: compress_per_round must be >= 0, got {compress_per_round}")
        if use_spatial and compress_per_round * rounds >= num_prototypes:
            raise ConfigError(
                f"Neuron: compress_per_round * rounds = {compress_per_round * rounds} would mask all "
                f"{num_prototypes} prototypes in the last round; need < num_prototypes"
            )
        if not (use_spatial or use_temporal):
            raise ConfigError("Neuron: at least one of use_spatial / use_temporal must be True")
        if fusion not in FUSIONS:
            raise ConfigError(f"Neuron: fusion must be one of {FUSIONS}, got {fusion!r}")
        if (fusion == "spatial" and not use_spatial) or (fusion == "temporal" and not use_temporal):
            raise ConfigError(f"Neuron: fusion={fusion!r} needs the {fusion} branch, which is switched off")
        if top_k is not None and top_k < 1:
            raise ConfigError(f"Neuron: top_k must be >= 1 or None, got {top_k}")
        if alignment not in ALIGNMENTS:
            raise ConfigError(f"Neuron: alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        if round_logit_scales is not None:
            round_logit_scales = tuple(float(x) for x in round_logit_scales)
            if len(round_logit_scales) != rounds or not all(math.isfinite(x) and x > 0 for x in round_logit_scales):
                raise ConfigError(f"Neuron: round_logit_scales needs {rounds} finite positive values, "
                                  f"got {round_logit_scales}")
        if round_weights is not None:
            round_weights = tuple(float(x) for x in round_weights)
            if (len(round_weights) != rounds or not all(math.isfinite(x) and x >= 0 for x in round_weights)
                    or sum(round_weights) <= 0):
                raise ConfigError(f"Neuron: round_weights needs {rounds} finite non-negative values with a "
                                  f"positive sum, got {round_weights}")

        self.text_dim = text_dim
        self.feat_dim = feat_dim
        self.num_prototypes = num_prototypes
        self.rounds = rounds
        self.compress_per_round = compress_per_round
        self.temporal_memory = temporal_memory
        self.use_spatial = use_spatial
        self.use_temporal = use_temporal
        self.windows = windows
        self.top_k = top_k
        self.logit_scale = float(logit_scale)
        self.fusion = fusion
        self.alignment = alignment
        self.project_relu = bool(project_relu)
        self.round_logit_scales = round_logit_scales
        self.round_weights = round_weights

        def project() -> nn.Sequential:
            # state-dict keys stay ``*_project.0.{weight,bias}`` with or without the ReLU
            layers: list[nn.Module] = [nn.Linear(feat_dim, text_dim)]
            return nn.Sequential(*layers, nn.ReLU()) if project_relu else nn.Sequential(*layers)

        template_s = _mlp(feat_dim)
        template_t = _mlp(feat_dim)
        if use_spatial:
            self.spatial_prototype = nn.Parameter(torch.randn(num_prototypes, feat_dim))
            self.update_spatial = nn.ModuleList(copy.deepcopy(template_s) for _ in range(rounds))
            self.spatial_project = project()
        if use_temporal:
            self.temporal_prototype = nn.Parameter(torch.randn(num_prototypes, feat_dim))
            self.update_temporal = nn.ModuleList(copy.deepcopy(template_t) for _ in range(rounds))
            if temporal_memory:
                self.memory_temporal = nn.ModuleList(copy.deepcopy(template_s) for _ in range(rounds))
                self.recall_temporal = nn.ModuleList(copy.deepcopy(template_s) for _ in range(rounds))
            self.temporal_project = project()

    # ------------------------------------------------------------------ branches

    def _spatial(self, f_s: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Sec. 3.2.  ``f_s (N, F, V)`` -> per-round reps ``(N, D)`` and prototypes ``(N, P, F)``."""
        N, _, V = f_s.shape
        proto = self.spatial_prototype.unsqueeze(0).expand(N, -1, -1)  # (N, P, F)
        reps, protos = [], []
        for r in range(self.rounds):
            sim = torch.einsum("nfv,npf->nvp", f_s, proto)  # (N, V, P)
            weight = torch.softmax(sim, dim=1)  # over joints
            n_mask = self.compress_per_round * (r + 1)
            if n_mask > 0:
                # Least related prototypes per joint (ranking by softmax over prototypes == by sim).
                low = sim.detach().topk(n_mask, dim=2, largest=False).indices
                mask = torch.ones_like(weight).scatter_(2, low, MASK_VALUE)
                weight = weight * mask
            agg = torch.einsum("nfv,nvp->npf", f_s, weight)  # (N, P, F)
            proto = self.update_spatial[r](agg)
            protos.append(proto)
            reps.append(F.normalize(self.spatial_project(proto.mean(dim=1)), p=2, dim=1))
        return reps, protos

    def _temporal(self, f_t: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Sec. 3.3.  ``f_t (N, F, T')`` -> per-round reps, prototypes ``Q_r`` and attention."""
        N, _, T = f_t.shape
        proto = self.temporal_prototype.unsqueeze(0).expand(N, -1, -1)  # (N, P, F)
        reps, protos, atts = [], [], []
        for r in range(self.rounds):
            length = min(T, max(1, int(math.floor(self.windows[r] * T + 0.5))))
            crop = f_t[:, :, :length]
            sim = torch.einsum("nft,npf->ntp", crop, proto)  # (N, T_r, P)
            atts.append(sim)
            u = torch.einsum("nft,ntp->npf", crop, torch.softmax(sim, dim=1))  # (N, P, F)
            update = self.update_temporal[r](u)
            if self.temporal_memory:
                proto = torch.sigmoid(self.recall_temporal[r](u)) * proto + torch.sigmoid(self.memory_temporal[r](u)) * update
            else:
                proto = update
            protos.append(proto)
            reps.append(F.normalize(self.temporal_project(proto.mean(dim=1)), p=2, dim=1))
        return reps, protos, atts

    # ------------------------------------------------------------------ forward

    def _check_sem(self, sem: Sequence[Tensor], name: str) -> int:
        if len(sem) < self.rounds:
            raise ConfigError(f"Neuron: {name} has {len(sem)} semantic levels, need {self.rounds} (one per round)")
        n_cls = None
        for lvl, s in enumerate(sem[: self.rounds]):
            if s.dim() != 3 or s.shape[-1] != self.text_dim:
                raise ConfigError(
                    f"Neuron: {name}[{lvl}] must be (C, K, {self.text_dim}) description embeddings, got {tuple(s.shape)}"
                )
            if n_cls is not None and s.shape[0] != n_cls:
                raise ConfigError(f"Neuron: {name} levels disagree on the number of classes: {s.shape[0]} vs {n_cls}")
            n_cls = s.shape[0]
            k = s.shape[1] if self.top_k is None else self.top_k
            if k > s.shape[1]:
                raise ConfigError(f"Neuron: top_k={self.top_k} exceeds the K={s.shape[1]} descriptions of {name}[{lvl}]")
        return int(n_cls)  # type: ignore[arg-type]

    def _scale(self, r: int) -> float:
        """Logit scale of round ``r`` (0-based): ``round_logit_scales[r]`` or ``logit_scale``."""
        return self.logit_scale if self.round_logit_scales is None else self.round_logit_scales[r]

    def _targets(self, spatial_sem: Sequence[Tensor], temporal_sem: Sequence[Tensor]
                 ) -> tuple[list[Tensor], list[Tensor], int | None]:
        """Per-round class targets for :func:`align_logits` under ``self.alignment``:
        ``(C, K, D)`` per level (``topk_mean``) or ``(C, 1, D)`` unit vectors, and the top-k."""
        if self.alignment == "topk_mean":
            return list(spatial_sem), list(temporal_sem), self.top_k
        if self.alignment == "unit_mean":
            def unit(levels: Sequence[Tensor]) -> list[Tensor]:
                return [F.normalize(F.normalize(x, dim=-1).mean(1, keepdim=True), dim=-1)
                        for x in levels[: self.rounds]]
            return (unit(spatial_sem) if self.use_spatial else [],
                    unit(temporal_sem) if self.use_temporal else [], None)
        levels = [x for x in list(spatial_sem[: self.rounds]) + list(temporal_sem[: self.rounds])
                  if x.numel()]
        allv = torch.cat([F.normalize(x, dim=-1) for x in levels], dim=1)
        target = F.normalize(allv.mean(1, keepdim=True), dim=-1)  # (C, 1, D)
        return [target] * self.rounds, [target] * self.rounds, None

    def forward(
        self,
        f_s: Tensor,
        f_t: Tensor,
        spatial_sem: Sequence[Tensor],
        temporal_sem: Sequence[Tensor],
    ) -> NeuronOutput:
        """Score a batch against a set of classes.

        Args:
            f_s: ``(N, feat_dim, V)`` spatial features (cube averaged over time).
            f_t: ``(N, feat_dim, T')`` temporal features (cube averaged over joints).
            spatial_sem, temporal_sem: per semantic level (>= ``rounds`` entries) a ``(C, K, D)``
                tensor of description embeddings of the C classes to score; normalised here.
                A disabled branch's semantics are ignored (may be empty).

        Returns:
            :class:`NeuronOutput`.

        Raises:
            ValueError: shape mismatches (see the class docstring).
        """
        if self.use_spatial and (f_s.dim() != 3 or f_s.shape[1] != self.feat_dim):
            raise ConfigError(f"Neuron: f_s must be (N, {self.feat_dim}, V), got {tuple(f_s.shape)}")
        if self.use_temporal and (f_t.dim() != 3 or f_t.shape[1] != self.feat_dim):
            raise ConfigError(f"Neuron: f_t must be (N, {self.feat_dim}, T'), got {tuple(f_t.shape)}")
        n_cls = None
        if self.use_spatial:
            n_cls = self._check_sem(spatial_sem, "spatial_sem")
        if self.use_temporal:
            n_t = self._check_sem(temporal_sem, "temporal_sem")
            if n_cls is not None and n_t != n_cls:
                raise ConfigError(f"Neuron: spatial_sem has {n_cls} classes but temporal_sem has {n_t}")

        s_logits: list[Tensor] = []
        t_logits: list[Tensor] = []
        s_reps: list[Tensor] = []
        t_reps: list[Tensor] = []
        s_protos: list[Tensor] = []
        t_protos: list[Tensor] = []
        t_atts: list[Tensor] = []
        s_targets, t_targets, top_k = self._targets(spatial_sem, temporal_sem)
        if self.use_spatial:
            s_reps, s_protos = self._spatial(f_s)
            s_logits = [align_logits(rep, s_targets[r], top_k, self._scale(r)) for r, rep in enumerate(s_reps)]
        if self.use_temporal:
            t_reps, t_protos, t_atts = self._temporal(f_t)
            t_logits = [align_logits(rep, t_targets[r], top_k, self._scale(r)) for r, rep in enumerate(t_reps)]

        if self.fusion == "spatial":
            scores = torch.softmax(s_logits[-1], dim=1)
        elif self.fusion == "temporal":
            scores = torch.softmax(t_logits[-1], dim=1)
        else:
            parts = [torch.softmax(lg[-1], dim=1) for lg in (s_logits, t_logits) if lg]
            scores = parts[0] if len(parts) == 1 else parts[0] + parts[1]
        return NeuronOutput(s_logits, t_logits, scores, s_reps, t_reps, s_protos, t_protos, t_atts)


def neuron_loss(output: NeuronOutput, target: Tensor, round_weights: Sequence[float] | None = None) -> Tensor:
    """Training loss (official ``main_match.py``): cross-entropy of every round's logits against the
    seen-class targets, averaged over rounds within each branch, then averaged over the enabled
    branches (``(mean_r CE_s + mean_r CE_t) / 2``; equal to the mean over all rounds of both
    branches since both have ``rounds`` rounds).

    Args:
        output: :class:`NeuronOutput` of a forward pass on the seen classes.
        target: ``(N,)`` long class indices into the scored classes.
        round_weights: optional weights of the rounds (a named variant, ``Neuron.round_weights``):
            each branch's loss is then ``sum_r w_r CE_r / sum_r w_r`` instead of the mean.

    Returns:
        Scalar loss.

    Raises:
        ValueError: the output holds no logits.
    """
    branch_losses = []
    for logits in (output.spatial_logits, output.temporal_logits):
        if logits:
            ce = torch.stack([F.cross_entropy(lg, target) for lg in logits])
            if round_weights is None:
                branch_losses.append(ce.mean())
            else:
                if len(round_weights) != len(logits):
                    raise ConfigError(f"neuron_loss: {len(round_weights)} round weights for {len(logits)} rounds")
                w = torch.as_tensor(round_weights, dtype=ce.dtype, device=ce.device)
                branch_losses.append((w * ce).sum() / w.sum())
    if not branch_losses:
        raise ConfigError("neuron_loss: the output holds no logits")
    return torch.stack(branch_losses).mean()
