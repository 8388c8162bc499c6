"""SA-DVAE: semantic alignment by disentangled variational autoencoders (peer head).

Source: S.-W. Li et al., "SA-DVAE: Improving Zero-Shot Skeleton-Based Action Recognition by
Disentangled Variational Autoencoders", ECCV 2024 (arXiv 2407.13460), Sec. 3; official code
``pha123661/SA-DVAE`` (commit 90d99b8), whose ``model.py`` / ``train.py`` this module follows.

Model (paper Sec. 3.1-3.3):

* skeleton VAE: one linear map each for the mean and log-variance of a latent of size
  ``latent + style_latent``; the first ``latent`` units are the *semantic* part ``z_s``, the last
  ``style_latent`` units the *style* part ``z_is`` (information of the sample not in the text);
  decoder ``Linear - ReLU`` from the whole latent back to the feature;
* text VAE: the same with a latent of size ``latent`` and no style part;
* reparameterisation with **one** standard-normal draw per sample shared by all latent units
  (as the official code does);
* loss per batch ``i`` of a cycle: reconstruction MSE of both VAEs + ``beta_1 * (KL_s + KL_is)``
  + ``beta_2 * KL_t`` + ``a * (cross-reconstruction MSE)`` + ``beta_2 * TC``, where ``TC`` is the
  mean discriminator output on ``[z_s, z_is]`` (the total-correlation term, adversarial part);
  ``beta_1``, ``beta_2`` and ``a`` follow the official warm-up schedule (:func:`schedule`);
* discriminator ``Linear(L, L//4) - ReLU - Linear(L//4, 1) - Sigmoid`` trained every
  ``dis_step`` batches with BCE on real pairs ``[z, z_is]`` (label 1) against pairs with both
  parts permuted over the batch (label 0), for ``z = z_s`` and ``z = z_t``, scaled by ``beta_2``;
* classifier for unseen classes: ``Linear(latent, C) - ReLU`` trained 300 full-batch Adam steps
  (lr 1e-3) on 500 latent samples of each candidate class drawn from the text VAE; a skeleton is
  scored by the classifier on its semantic mean ``mu_s``.

Recipe (official ``scripts/train_eval_synse_split.sh``, NTU-60 with Shift-GCN features and the
``stsb-bert-large`` label+description text): latent 160, style latent 8, Adam lr 3.389e-5,
batch 32, ``dis_step`` 5, 10 cycles (one cycle = one pass over the training set).

Deviations (each with its reason):

* No cycle selection: the official script keeps the cycle with the best ZSL accuracy *on the
  test set*; here the last cycle is used (no test-set model selection in this harness).
* GZSL: the official code routes samples by a logistic-regression gate between the skeleton
  encoder's seen-class softmax and this classifier; here :meth:`SADVAE.scores` returns the
  latent classifier's outputs over the requested classes and the harness applies its one GZSL
  rule (calibrated stacking) to every method, so the methods differ only in their heads.
* The hidden layers of the official encoders/decoders (``layer_sizes`` longer than two) are not
  built: every published configuration uses none.
* Text embeddings are L2-normalised here as in the official ``main``; the text decoder ends in a
  ReLU although normalised text has negative entries (kept: official behaviour).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.errors import ConfigError
from neuron.models.peer_common import as_inputs, class_targets, merge_settings, minibatches

__all__ = ["SADVAE", "DEFAULTS", "schedule", "reparameterize", "neg_kl", "sadvae_init"]

#: paper / official-script settings (NTU-60, Shift-GCN features, synse split)
DEFAULTS: dict[str, Any] = {
    "latent": 160, "style_latent": 8, "lr": 3.389022400898623e-05, "batch_size": 32,
    "dis_step": 5, "cycles": 10, "clf_lr": 1e-3, "clf_steps": 300, "clf_samples": 500,
    "beta_x": None, "beta_y": None,
}


def sadvae_init(m: nn.Module) -> None:
    """Official initialisation: Xavier-uniform (gain 0.5) weights and zero biases of Linear layers."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight, gain=0.5)
        m.bias.data.fill_(0)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """``mu + exp(logvar / 2) * eps`` with one ``eps ~ N(0, 1)`` per sample (global RNG), ``(N, L)``."""
    eps = torch.empty(mu.shape[0], 1).normal_(0, 1).to(mu.device)
    return eps * torch.exp(0.5 * logvar) + mu


def neg_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Minus the KL divergence to N(0, I), summed over units, averaged over samples (scalar)."""
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]


def schedule(i: int, n_batches: int, cycle: int, beta_x: float | None = None,
             beta_y: float | None = None) -> tuple[float, float, float]:
    """Loss weights ``(beta_1, beta_2, a)`` at batch ``i`` of a cycle of ``n_batches`` batches.

    Official ``train_one_cycle``: without ``beta_x``/``beta_y`` the KL weights ramp linearly
    (a scale of 1700 batches per cycle is the reference), ``beta_2`` only from the second cycle
    on and after 80 % of the cycle; the cross-alignment weight ``a`` is 1 after 80 % of the cycle.
    """
    cr = int(0.8 * n_batches)
    if beta_x is None and beta_y is None:
        b1 = max(0.1 * (i - n_batches / 1700 * 1000) / (n_batches / 1700 * 3000), 0)
        b2 = max(0.1 * (i - cr) / (n_batches / 1700 * 3000), 0) * (cycle > 1)
    elif i <= int(n_batches / 3):
        b1 = b2 = 0.0
    else:
        b1 = 1.5 * (float(i) / n_batches - 1 / 3) * beta_x
        b2 = 1.5 * (float(i) / n_batches - 1 / 3) * beta_y
    return float(b1), float(b2), float(1 * (i > cr))


class _Gaussian(nn.Module):
    """Linear maps to a Gaussian's mean and log-variance (official ``Encoder`` without hidden layers)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.mean = nn.Linear(d_in, d_out)
        self.log_var = nn.Linear(d_in, d_out)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.mean(x), self.log_var(x)


class _Decoder(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, z: Tensor) -> Tensor:
        return F.relu(self.linear(z))


class SADVAE(nn.Module):
    """SA-DVAE head on pooled skeleton features ``(N, feat_dim)`` and text embeddings ``(C, text_dim)``.

    Args:
        text_dim: text embedding size E.
        feat_dim: pooled skeleton feature size F.
        cfg: settings overriding :data:`DEFAULTS`.

    Parameters (official name in brackets): ``skel_enc.mean`` / ``skel_enc.log_var``
    [sequence encoder ``mu.0`` / ``logvar.0``], ``skel_dec.linear`` [sequence decoder
    ``model.0``], ``text_enc.*`` / ``text_dec.*`` [text encoder / decoder], ``disc.0`` /
    ``disc.2`` [discriminator ``net.0`` / ``net.2``]; the classifier [``MLP.model.0``] is built
    per candidate class set in :meth:`fit_classifier`.

    Raises:
        ConfigError: unknown settings or non-positive sizes.
    """

    name = "sadvae"

    def __init__(self, text_dim: int, feat_dim: int = 256, cfg: Mapping[str, Any] | None = None):
        super().__init__()
        self.cfg = merge_settings(DEFAULTS, cfg, "SA-DVAE")
        ls, ils = int(self.cfg["latent"]), int(self.cfg["style_latent"])
        if min(text_dim, feat_dim, ls, ils) < 1:
            raise ConfigError(f"SA-DVAE: sizes must be >= 1 (text {text_dim}, feat {feat_dim}, latent {ls}, style {ils})")
        self.text_dim, self.feat_dim, self.latent, self.style_latent = text_dim, feat_dim, ls, ils
        self.skel_enc = _Gaussian(feat_dim, ls + ils)
        self.skel_dec = _Decoder(ls + ils, feat_dim)
        self.text_enc = _Gaussian(text_dim, ls)
        self.text_dec = _Decoder(ls, text_dim)
        L = ls + ils
        self.disc = nn.Sequential(nn.Linear(L, L // 4), nn.ReLU(), nn.Linear(L // 4, 1), nn.Sigmoid())
        self.init_weights()
        self.classifiers: dict[tuple, nn.Linear] = {}
        self._class_emb: Tensor | None = None

    def init_weights(self) -> None:
        """Official initialisation of every layer (global RNG)."""
        for m in (self.skel_enc, self.skel_dec, self.text_enc, self.text_dec, self.disc):
            m.apply(sadvae_init)

    # ------------------------------------------------------------------ forward pieces
    def encode_skeleton(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(N, F)`` -> semantic mean, log-variance ``(N, latent)`` and style mean, log-variance ``(N, style)``."""
        mu, lv = self.skel_enc(x)
        s = self.latent
        return mu[:, :s], lv[:, :s], mu[:, s:], lv[:, s:]

    def losses(self, x: Tensor, t: Tensor, i: int, n_batches: int, cycle: int) -> dict[str, Tensor]:
        """All terms of one training batch (global RNG draws in the official order).

        Args:
            x: ``(B, F)`` skeleton features; t: ``(B, E)`` normalised text embedding of each sample's class.
        Returns: dict with ``loss`` (VAE objective incl. scaled TC), the terms ``rec_s``, ``rec_t``,
        ``kl_s``, ``kl_is``, ``kl_t`` (minus-KL, as the official code), ``cross_s``, ``cross_t``,
        ``tc``, and the tensors ``mu_s``, ``lv_s``, ``mu_is``, ``lv_is``, ``mu_t``, ``lv_t``.
        """
        b1, b2, a = schedule(i, n_batches, cycle, self.cfg["beta_x"], self.cfg["beta_y"])
        smu, slv, imu, ilv = self.encode_skeleton(x)
        sz, iz = reparameterize(smu, slv), reparameterize(imu, ilv)
        s_rec = self.skel_dec(torch.cat([sz, iz], -1))
        tmu, tlv = self.text_enc(t)
        tz = reparameterize(tmu, tlv)
        t_rec = self.text_dec(tz)
        s_from_t = self.skel_dec(torch.cat([tz, iz], -1))
        t_from_s = self.text_dec(sz)
        out = {"rec_s": F.mse_loss(s_rec, x), "rec_t": F.mse_loss(t_rec, t),
               "kl_s": neg_kl(smu, slv), "kl_is": neg_kl(imu, ilv), "kl_t": neg_kl(tmu, tlv),
               "cross_s": F.mse_loss(s_from_t, x), "cross_t": F.mse_loss(t_from_s, t),
               "mu_s": smu, "lv_s": slv, "mu_is": imu, "lv_is": ilv, "mu_t": tmu, "lv_t": tlv,
               "b1": b1, "b2": b2, "a": a, "sz": sz, "iz": iz}
        return out

    def tc_loss(self, sz: Tensor, iz: Tensor) -> Tensor:
        """Total-correlation estimate: mean discriminator output on the joint ``[z_s, z_is]`` (scalar)."""
        return self.disc(torch.cat([sz, iz], -1)).mean()

    def discriminator_loss(self, t: dict[str, Tensor]) -> Tensor:
        """BCE of the discriminator: real ``[z, z_is]`` vs. batch-permuted pairs, z = z_s then z_t (fresh draws)."""
        def one(mu, lv):
            z, zi = reparameterize(mu, lv), reparameterize(t["mu_is"], t["lv_is"])
            B = z.shape[0]
            p1, p2 = torch.randperm(B), torch.randperm(B)
            real = self.disc(torch.cat([z, zi], -1))
            fake = self.disc(torch.cat([z[p1], zi[p2]], -1))
            return (F.binary_cross_entropy(real, torch.ones_like(real))
                    + F.binary_cross_entropy(fake, torch.zeros_like(fake))) / 2
        return (one(t["mu_s"], t["lv_s"]) + one(t["mu_t"], t["lv_t"])) / 2

    def train_cycle(self, batches: Sequence[tuple[Tensor, Tensor]], text: Tensor, cycle: int,
                    opt: torch.optim.Optimizer, dis_opt: torch.optim.Optimizer) -> list[float]:
        """One cycle (pass) over ``batches`` of ``(x (B, F), class row (B,))``; ``text`` ``(C, E)`` normalised.

        Returns the values back-propagated, in order (on discriminator steps the scaled
        discriminator loss comes first), as the official ``train_one_cycle`` computes them.
        """
        self.train()
        values: list[float] = []
        dis_left = int(self.cfg["dis_step"])
        n = len(batches)
        for i, (x, y) in enumerate(batches):
            t = text[y]
            o = self.losses(x, t, i, n, cycle)
            dis_left -= 1
            if dis_left == 0:
                dis_left = int(self.cfg["dis_step"])
                d = o["b2"] * self.discriminator_loss(o)
                dis_opt.zero_grad()
                d.backward(retain_graph=True)
                dis_opt.step()
                values.append(float(d.detach()))
            loss = (o["rec_s"] + o["rec_t"] - o["b1"] * (o["kl_s"] + o["kl_is"]) - o["b2"] * o["kl_t"]
                    + o["a"] * (o["cross_s"] + o["cross_t"]) + o["b2"] * self.tc_loss(o["sz"], o["iz"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            values.append(float(loss.detach()))
        return values

    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """Adam over the two VAEs and Adam over the discriminator, both at ``lr``."""
        vae = [p for m in (self.skel_enc, self.skel_dec, self.text_enc, self.text_dec) for p in m.parameters()]
        return (torch.optim.Adam(vae, lr=self.cfg["lr"]), torch.optim.Adam(self.disc.parameters(), lr=self.cfg["lr"]))

    # ------------------------------------------------------------------ harness interface
    def fit(self, feats: Any, labels: Any, class_emb: Tensor, seen: Sequence[int],
            cfg: Mapping[str, Any] | None = None, seed: int = 0) -> dict:
        """Train the VAEs on the seen classes (paper recipe; see the module doc for deviations).

        Args:
            feats: ``(N, F)`` pooled features or a ``Features``-like object; labels ``(N,)``
                dataset class ids (all in ``seen``); class_emb ``(C_all, E)``; seen: class ids.
            cfg: settings overriding those given at construction; seed: seeds the global torch RNG
                (weight initialisation, reparameterisation, permutations) and the batch order;
                the weights are re-initialised, so a fit depends on the seed only.
        Returns: ``{"losses": [per-cycle mean loss]}``.
        """
        if cfg:
            self.cfg = merge_settings(self.cfg, cfg, "SA-DVAE")
        torch.manual_seed(seed)
        self.init_weights()
        x = as_inputs(feats).pooled
        y = torch.as_tensor(labels).long()
        class_targets(y, seen)  # every label is a seen class
        text = F.normalize(torch.as_tensor(class_emb).float(), dim=1)
        self._class_emb = text
        opt, dis_opt = self.optimizers()
        gen = torch.Generator().manual_seed(seed)
        history = []
        for cycle in range(int(self.cfg["cycles"])):
            batches = [(x[b], y[b]) for b in minibatches(len(x), int(self.cfg["batch_size"]), gen)]
            vals = self.train_cycle(batches, text, cycle, opt, dis_opt)
            history.append(float(np.mean(vals)))
        self.classifiers.clear()
        self._seed = seed
        return {"losses": history}

    def fit_classifier(self, class_rows: Tensor) -> nn.Linear:
        """Classifier over the classes whose normalised embeddings are ``class_rows`` ``(C, E)``.

        Official ``train_classifier``: ``Linear(latent, C)`` (+ ReLU at use) with the official
        init, 300 Adam steps (lr 1e-3) on ``clf_samples`` reparameterised text latents per class
        (drawn once, global RNG, after the init).
        """
        C = class_rows.shape[0]
        clf = nn.Linear(self.latent, C)
        sadvae_init(clf)
        opt = torch.optim.Adam(clf.parameters(), lr=self.cfg["clf_lr"])
        k = int(self.cfg["clf_samples"])
        with torch.no_grad():
            self.text_enc.eval()
            mu, lv = self.text_enc(class_rows.float().repeat([k, 1]))
            z = reparameterize(mu, lv)
        y = torch.arange(C).repeat([k])
        for _ in range(int(self.cfg["clf_steps"])):
            loss = F.cross_entropy(F.relu(clf(z)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        clf.eval()
        return clf

    @torch.no_grad()
    def classify(self, clf: nn.Linear, x: Tensor) -> Tensor:
        """Classifier outputs ``(N, C)`` on the skeleton semantic means of ``x`` ``(N, F)``."""
        self.eval()
        return F.relu(clf(self.encode_skeleton(x)[0]))

    def scores(self, feats: Any, class_emb: Tensor | None = None, classes: Sequence[int] | None = None) -> np.ndarray:
        """Scores ``(N, len(classes))`` (column j = class ``classes[j]``; default all classes).

        The latent classifier is trained for this candidate set on first use (seeded from the fit
        seed, cached): with ``classes`` = the unseen classes this is the paper's ZSL classifier.

        Raises:
            ConfigError: called before :meth:`fit` without ``class_emb``.
        """
        text = self._class_emb if class_emb is None else F.normalize(torch.as_tensor(class_emb).float(), dim=1)
        if text is None:
            raise ConfigError("SA-DVAE: scores() needs class_emb or a fitted model")
        classes = list(range(text.shape[0])) if classes is None else [int(c) for c in classes]
        key = tuple(classes)
        if key not in self.classifiers:
            state = torch.random.get_rng_state()
            torch.manual_seed(getattr(self, "_seed", 0) + 1)
            self.classifiers[key] = self.fit_classifier(text[torch.as_tensor(classes)])
            torch.random.set_rng_state(state)
        return self.classify(self.classifiers[key], as_inputs(feats).pooled).numpy()

