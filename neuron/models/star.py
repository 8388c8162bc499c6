"""STAR: side-information-aware alignment of body-part skeleton features with text (peer head).

Source: Y. Chen et al., "Fine-Grained Side Information Guided Dual-Prompts for Zero-Shot Skeleton
Action Recognition", ACM MM 2024 (arXiv 2404.07487), Sec. 3; official code ``cseeyangchen/STAR``
(commit 917ca67), whose ``model/shiftgcn_match_ntu.py`` (``ModelMatch``) and
``main_ntu_match.py`` this module follows.

Model (per body part ``i`` of six: head, hand, arm, hip, leg, foot):

* visual prompts ``Q_i`` ``(P, E)`` (P = 100) attend to the part's skeleton tokens
  (multi-head attention, 4 heads, keys/values of size F), then ``Linear - ReLU - Linear``
  (``E -> E -> E``) gives ``A_i`` ``(N, P, E)``; the part's semantic vector is
  ``s_i[n, p] = Q_i[p] W_i A_i[n, p]`` ``(N, P)`` with a learned ``W_i`` ``(E, E)``;
  the skeleton's semantic vector is ``sum_i s_i``;
* class text: the label embedding through ``Linear(E, 256) - ReLU - Linear(256, P)``; each
  part's description embedding plus a learned per-class semantic prompt through the part's own
  ``Linear(E, 256) - ReLU - Linear(256, P)``;
* loss (NTU-60 weights): ``0.1 * CE_global + CE_part + 0.1 * L_pd``: ``CE_global`` = cross-entropy
  over the seen classes of the cosine between the skeleton semantic vector and the mapped
  labels (softmax of raw cosines, no temperature); ``CE_part`` = the same per part with the
  mapped part descriptions, averaged over parts; ``L_pd`` = per part, ``-log`` of the diagonal of
  the row softmax of (mapped part descriptions) x (mapped labels)^T over all classes, averaged;
* ZSL score of class ``c``: cosine of the skeleton semantic vector with the mapped label of ``c``.

Recipe (official ``config/ntu60_xsub_55_5split``): SGD momentum 0.9 Nesterov, lr 0.01, weight
decay 5e-4, lr x0.1 at epochs 10 and 20, 40 epochs, batch 64; frozen Shift-GCN features.

Deviations (each with its reason):

* Skeleton tokens: the official keys/values are the frozen Shift-GCN cube at every (time, joint)
  position of the part; the cached features here keep the time-averaged per-joint feature
  ``f_s`` ``(N, F, V)``, so the tokens are the part's joints (one per joint). Exactly the
  official computation for a cube with one time step (what the oracle checks).
* Body parts: the official partition is for NTU-25 only; :mod:`neuron.models.star_parts` maps
  the same six parts onto Kinect v1 (UTD-MHAD / Kinder-Gator and NW-UCLA orders), Penn Action
  and COCO-17 (where hand and hip have no joints of their own they borrow the wrists and the
  hip joints). The partition follows the setting ``parts`` (explicit lists), else the setting
  ``layout``, else a ``layout`` name carried by the features, else the joint count V.
* Part descriptions: STAR uses six LLM-written part descriptions per class (CLIP ViT-L/14
  text). ``class_emb`` may be ``(C, 7, E)`` (label, then the six parts, the official order);
  with a ``(C, E)`` tensor every part uses the class embedding (the harness's side information
  has no part-level text), so the parts differ only by their learned prompts and mappings.
* The learned per-class prompts exist for every class (unseen ones are trained by ``L_pd`` only),
  as in the official code; their count is fixed at :meth:`STAR.fit` from ``class_emb``.
* GZSL: the official code searches a calibration factor on the test set
  (``get_gzsl_acc4``); here :meth:`STAR.scores` returns the cosines and the harness applies its
  calibrated stacking with validation-chosen factor, as for every method.
* No epoch selection on the test set (the official script keeps the best test epoch).
* Unused official branches (the global classifier of the pre-trained network, part classifiers,
  the ``global_fc`` head and losses that are computed but not in the objective) are not built.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError
from neuron.models.peer_common import as_inputs, class_targets, merge_settings, minibatches
from neuron.models.star_parts import PART_NAMES, PARTITIONS, body_parts

__all__ = ["STAR", "DEFAULTS", "NTU25_PARTS"]

#: official NTU-25 body parts (0-based joints): head, hand, arm, hip, leg, foot
NTU25_PARTS: list[list[int]] = PARTITIONS["ntu_25"]

DEFAULTS: dict[str, Any] = {
    "prompts": 100, "heads": 4, "text_hidden": 256, "parts": None, "layout": None,
    "lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "steps": [10, 20],
    "lr_decay": 0.1, "epochs": 40, "batch_size": 64,
    "w_global": 0.1, "w_part": 1.0, "w_pd": 0.1,
}


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


class STAR(nn.Module):
    """STAR head on per-joint features ``f_s`` ``(N, F, V)`` and text ``(C, E)`` or ``(C, 7, E)``.

    Args:
        text_dim: E (divisible by ``heads``); feat_dim: F; cfg: settings overriding :data:`DEFAULTS`.

    Parameters (official ``ModelMatch`` name in brackets), per part ``i``: ``prompts.i``
    [``body_part_prompts.i``], ``attn.i.*`` [``body_part_st_attention_networks.i.*``],
    ``aug.i.0`` / ``aug.i.2`` [``body_part_mapping_matrix1.i`` / ``2.i``], ``bilinear.i``
    [``body_part_w.i``], ``part_text.i.0`` / ``.2`` [``pd_mapping_matrix1.i`` / ``2.i``],
    ``class_prompts.i`` [``pd_prompt.i``]; ``label_text.0`` / ``.2`` [``crossmodal_align1`` / ``2``].

    Settings ``parts`` (lists of 0-based joints, any count) and ``layout`` (a name in
    :data:`neuron.models.star_parts.PARTITIONS`) choose the body parts; with neither, the parts
    are chosen from the features' ``layout`` attribute or joint count V when the model first
    sees them (:func:`neuron.models.star_parts.body_parts`). ``parts`` holds the partition in use.

    Raises:
        ConfigError: unknown settings or layout, E not divisible by the heads, joints out of range.
    """

    name = "star"

    def __init__(self, text_dim: int, feat_dim: int = 256, cfg: Mapping[str, Any] | None = None):
        super().__init__()
        self.cfg = merge_settings(DEFAULTS, cfg, "STAR")
        P, H, Ht = int(self.cfg["prompts"]), int(self.cfg["heads"]), int(self.cfg["text_hidden"])
        if min(text_dim, feat_dim, P, H, Ht) < 1 or text_dim % H:
            raise ConfigError(f"STAR: sizes must be >= 1 and text_dim ({text_dim}) divisible by heads ({H})")
        self.text_dim, self.feat_dim = text_dim, feat_dim
        self.parts: list[list[int]] | None = self._configured_parts()
        self.num_parts = len(self.parts) if self.parts is not None else len(PART_NAMES)
        K = self.num_parts
        self.prompts = nn.ParameterList([nn.Parameter(torch.randn(P, text_dim)) for _ in range(K)])
        self.attn = nn.ModuleList([nn.MultiheadAttention(text_dim, H, kdim=feat_dim, vdim=feat_dim, batch_first=True)
                                   for _ in range(K)])
        self.aug = nn.ModuleList([_mlp(text_dim, text_dim, text_dim) for _ in range(K)])
        self.bilinear = nn.ParameterList([nn.Parameter(torch.randn(text_dim, text_dim)) for _ in range(K)])
        self.part_text = nn.ModuleList([_mlp(text_dim, Ht, P) for _ in range(K)])
        self.label_text = _mlp(text_dim, Ht, P)
        self.class_prompts = nn.ParameterList()
        self._text: tuple[Tensor, Tensor] | None = None

    def reset_class_prompts(self, num_classes: int) -> None:
        """(Re)create the per-class semantic prompts ``(num_classes, E)`` of every part, N(0, 1)."""
        self.class_prompts = nn.ParameterList([nn.Parameter(torch.randn(num_classes, self.text_dim))
                                               for _ in range(self.num_parts)])

    def _configured_parts(self) -> list[list[int]] | None:
        """The partition fixed by the settings ``parts`` / ``layout``, or ``None`` (chosen from the data)."""
        explicit, layout = self.cfg["parts"], self.cfg["layout"]
        if explicit is not None:
            if not explicit or any(len(p) == 0 for p in explicit):
                raise ConfigError(f"STAR: 'parts' must be non-empty lists of joints, got {explicit}")
            parts = [[int(j) for j in p] for p in explicit]
        elif layout is not None:
            if layout not in PARTITIONS:
                raise ConfigError(f"STAR: no body-part partition for layout '{layout}' "
                                  f"(known: {sorted(PARTITIONS)}); give the setting 'parts'")
            parts = [list(p) for p in PARTITIONS[layout]]
        else:
            return None
        if hasattr(self, "num_parts") and len(parts) != self.num_parts:
            raise ConfigError(f"STAR: the model was built with {self.num_parts} parts, the settings give {len(parts)}")
        return parts

    # ------------------------------------------------------------------ forward pieces
    def resolve_parts(self, num_joints: int, layout: Any = None) -> list[list[int]]:
        """The body parts for V = ``num_joints`` joints; fixes :attr:`parts` on first use.

        ``layout``: the features' layout (a name or an object with ``name``), used when neither
        ``parts`` nor the ``layout`` setting is given.

        Raises:
            ConfigError: no partition for the layout / V (:func:`~neuron.models.star_parts.body_parts`),
                or the partition in use does not fit V joints.
        """
        if self.parts is None:
            name = getattr(layout, "name", layout)
            self.parts = body_parts(num_joints, None if name is None else str(name))
        if max(max(p) for p in self.parts) >= num_joints:
            raise ConfigError(f"STAR: the body parts {self.parts} need more than V={num_joints} joints")
        return self.parts

    def part_semantics(self, f_s: Tensor) -> Tensor:
        """Per-part semantic vectors ``(N, K, P)`` of per-joint features ``(N, F, V)``.

        Raises:
            ConfigError: a part joint >= V, no partition for V, or a feature size other than F.
        """
        n, c, v = f_s.shape
        if c != self.feat_dim:
            raise ConfigError(f"STAR: f_s must be (N, {self.feat_dim}, V), got {tuple(f_s.shape)}")
        self.resolve_parts(v)
        return torch.stack([self._part_semantic(i, f_s[:, :, joints].permute(0, 2, 1))
                            for i, joints in enumerate(self.parts)], 1)

    def _part_semantic(self, i: int, tokens: Tensor) -> Tensor:
        """Part ``i``'s semantic vector ``(N, P)`` from its joint tokens ``(N, J, F)``, factored.

        The same function of the same parameters as :meth:`part_semantics_reference` (the
        official order: attention over the tokens, ``Linear - ReLU - Linear``, bilinear form), in
        an order that never forms a batch-dependent ``(N, P, E)`` product with an ``(E, E)``
        matrix: the prompts' query projection does not depend on the sample (done once); the
        attention output is a mix of the part's J value vectors, so the output projection and the
        first ``Linear`` are applied to the J * heads value vectors before the mix; the second
        ``Linear`` and the bilinear form fold into one ``(P, E)`` matrix ``Q_i W_i W_2``. Floating-
        point results differ from the reference by rounding only (tests/test_peers.py); the
        matrix products per part and sample drop from about ``4 P E^2`` to ``J (1 + heads) E^2``
        (``benchmarks/star.py``).
        """
        attn, aug = self.attn[i], self.aug[i]
        n, j, _ = tokens.shape
        heads = attn.num_heads
        e = self.text_dim
        d = e // heads
        if attn._qkv_same_embed_dim:
            wq, wk, wv = attn.in_proj_weight.chunk(3)
        else:
            wq, wk, wv = attn.q_proj_weight, attn.k_proj_weight, attn.v_proj_weight
        bq, bk, bv = attn.in_proj_bias.chunk(3)
        prompts = self.prompts[i]
        q = F.linear(prompts, wq, bq).view(-1, heads, d) * d ** -0.5            # (P, H, d)
        k = F.linear(tokens, wk, bk).view(n, j, heads, d)                       # (N, J, H, d)
        w = torch.softmax(torch.einsum("phd,njhd->nphj", q, k), dim=-1)         # (N, P, H, J)
        v = F.linear(tokens, wv, bv).view(n, j, heads, d)
        lin1, lin2 = aug[0], aug[2]
        u = torch.einsum("njhd,ehd->nhje", v, attn.out_proj.weight.view(e, heads, d))
        u = F.linear(u, lin1.weight)                                            # (N, H, J, E)
        hidden = torch.relu(torch.bmm(w.reshape(n, -1, heads * j), u.reshape(n, heads * j, e))
                            + F.linear(attn.out_proj.bias, lin1.weight, lin1.bias))  # (N, P, E)
        qw = prompts @ self.bilinear[i]                                          # (P, E)
        return (hidden * (qw @ lin2.weight)).sum(-1) + qw @ lin2.bias

    def part_semantics_reference(self, f_s: Tensor) -> Tensor:
        """:meth:`part_semantics` computed in the official order with the modules (slow; for tests
        and ``benchmarks/star.py``): ``s_i = Q_i W_i Linear-ReLU-Linear(MHA(Q_i, tokens, tokens))``."""
        n = f_s.shape[0]
        self.resolve_parts(f_s.shape[-1])
        out = []
        for i, joints in enumerate(self.parts):
            tokens = f_s[:, :, joints].permute(0, 2, 1)
            a, _ = self.attn[i](self.prompts[i].unsqueeze(0).expand(n, -1, -1), tokens, tokens)
            out.append(torch.einsum("pe,ef,npf->np", self.prompts[i], self.bilinear[i], self.aug[i](a)))
        return torch.stack(out, 1)

    @staticmethod
    def split_text(class_emb: Tensor, parts: int) -> tuple[Tensor, Tensor]:
        """``(C, E)`` or ``(C, 1 + parts, E)`` -> label ``(C, E)``, part descriptions ``(C, parts, E)``.

        Raises:
            ConfigError: another shape.
        """
        t = torch.as_tensor(class_emb).float()
        if t.dim() == 2:
            return t, t[:, None].expand(-1, parts, -1)
        if t.dim() == 3 and t.shape[1] == 1 + parts:
            return t[:, 0], t[:, 1:]
        raise ConfigError(f"STAR: class_emb must be (C, E) or (C, {1 + parts}, E), got {tuple(t.shape)}")

    def mapped_parts(self, part_emb: Tensor) -> Tensor:
        """Mapped part descriptions plus class prompts ``(K, C, P)`` from ``(C, K, E)``."""
        return torch.stack([self.part_text[i](part_emb[:, i] + self.class_prompts[i]) for i in range(self.num_parts)])

    def losses(self, f_s: Tensor, target: Tensor, label_emb: Tensor, part_emb: Tensor,
               seen: Tensor) -> dict[str, Tensor]:
        """Official objective terms for a batch.

        Args: f_s ``(B, F, V)``; target ``(B,)`` positions in ``seen``; label_emb ``(C, E)``;
        part_emb ``(C, K, E)``; seen ``(S,)`` class rows. Returns ``global_ce``, ``part_ce``,
        ``pd_label`` and the weighted ``loss``.
        """
        sem = self.part_semantics(f_s)
        labels = self.label_text(label_emb)
        g = F.normalize(sem.sum(1), dim=1) @ F.normalize(labels, dim=1).t()
        nll = lambda s: -torch.log(F.softmax(s[:, seen], dim=1) + 1e-12).gather(1, target[:, None]).squeeze(1)  # noqa: E731
        global_ce = nll(g).mean()
        parts = self.mapped_parts(part_emb)
        part_ce, pd = [], []
        for i in range(self.num_parts):
            s = F.normalize(sem[:, i], dim=1) @ F.normalize(parts[i], dim=1).t()
            part_ce.append(nll(s).mean())
            sim = F.softmax(parts[i] @ labels.t(), dim=1)
            pd.append((-torch.log(torch.diagonal(sim) + 1e-12)).mean())
        part_ce = sum(part_ce) / self.num_parts
        pd_label = sum(pd) / self.num_parts
        loss = self.cfg["w_global"] * global_ce + self.cfg["w_part"] * part_ce + self.cfg["w_pd"] * pd_label
        return {"global_ce": global_ce, "part_ce": part_ce, "pd_label": pd_label, "loss": loss,
                "semantics": sem}

    # ------------------------------------------------------------------ harness interface
    def fit(self, feats: Any, labels: Any, class_emb: Tensor, seen: Sequence[int],
            cfg: Mapping[str, Any] | None = None, seed: int = 0) -> dict:
        """Train on the seen classes (paper recipe; see the module doc for deviations).

        Args:
            feats: ``Features``-like object with ``f_s`` ``(N, F, V)``; labels ``(N,)`` dataset
                class ids in ``seen``; class_emb ``(C_all, E)`` or ``(C_all, 7, E)``; seed:
                initialisation and batch order.
        Returns: ``{"losses": [per-epoch mean loss]}``.
        """
        if cfg:
            self.cfg = merge_settings(self.cfg, cfg, "STAR")
        torch.manual_seed(seed)
        for p in list(self.prompts) + list(self.bilinear):
            nn.init.normal_(p)
        for m in list(self.attn) + list(self.aug) + list(self.part_text) + [self.label_text]:
            for sub in m.modules():
                if hasattr(sub, "_reset_parameters"):
                    sub._reset_parameters()
                elif isinstance(sub, nn.Linear):
                    sub.reset_parameters()
        inputs = as_inputs(feats)
        f_s = inputs.require("f_s", "STAR")
        self.parts = self._configured_parts()
        self.resolve_parts(f_s.shape[-1], inputs.layout)
        label_emb, part_emb = self.split_text(class_emb, self.num_parts)
        self.reset_class_prompts(label_emb.shape[0])
        self._text = (label_emb, part_emb)
        seen_t = torch.as_tensor(sorted(int(c) for c in seen))
        target = class_targets(labels, seen_t.tolist())
        opt = torch.optim.SGD(self.parameters(), lr=self.cfg["lr"], momentum=self.cfg["momentum"],
                              nesterov=bool(self.cfg["nesterov"]), weight_decay=self.cfg["weight_decay"])
        gen = torch.Generator().manual_seed(seed)
        history = []
        for epoch in range(int(self.cfg["epochs"])):
            lr = self.cfg["lr"] * self.cfg["lr_decay"] ** int(np.sum(epoch >= np.asarray(self.cfg["steps"])))
            for g in opt.param_groups:
                g["lr"] = lr
            self.train()
            vals = []
            for b in minibatches(len(target), int(self.cfg["batch_size"]), gen):
                loss = self.losses(f_s[b], target[b], label_emb, part_emb, seen_t)["loss"]
                opt.zero_grad()
                loss.backward()
                opt.step()
                vals.append(float(loss.detach()))
            history.append(float(np.mean(vals)))
        return {"losses": history}

    @torch.no_grad()
    def scores(self, feats: Any, class_emb: Tensor | None = None, classes: Sequence[int] | None = None) -> np.ndarray:
        """Cosines ``(N, len(classes))`` of the skeleton semantic vector with the mapped labels.

        Raises:
            ConfigError: called before :meth:`fit` without ``class_emb``; no ``f_s``.
        """
        if class_emb is not None:
            label_emb, _ = self.split_text(class_emb, self.num_parts)
        elif self._text is not None:
            label_emb = self._text[0]
        else:
            raise ConfigError("STAR: scores() needs class_emb or a fitted model")
        if classes is not None:
            label_emb = label_emb[torch.as_tensor([int(c) for c in classes])]
        self.eval()
        inputs = as_inputs(feats)
        f_s = inputs.require("f_s", "STAR")
        self.resolve_parts(f_s.shape[-1], inputs.layout)
        lab = F.normalize(self.label_text(label_emb), dim=1)
        return torch.cat([F.normalize(self.part_semantics(f_s[i:i + 256]).sum(1), dim=1) @ lab.t()
                          for i in range(0, len(f_s), 256)]).numpy()
