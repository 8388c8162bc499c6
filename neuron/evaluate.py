"""Evaluation of zero-shot (ZSL) and generalised zero-shot (GZSL) skeleton action recognition.

Conventions used by every function here
---------------------------------------
* ``scores`` is an ``(N, C_all)`` matrix over **all** classes of the dataset (column ``c`` is the
  dataset's 0-based class id ``c``); higher is better. numpy arrays and torch tensors are both
  accepted (tensors are detached and moved to the CPU).
* ``labels`` is ``(N,)`` in the same 0-based class ids.
* ``unseen`` lists the unseen class ids; ``seen`` the seen ones (``None`` = every column that is
  not unseen).
* Accuracies are **percentages** (0..100). Unless said otherwise they are *per-sample* top-1
  accuracies (the fraction of test samples whose prediction is right), which is what the
  official Neuron code reports; :func:`gzsl_accuracy` also offers the per-class mean
  (``per_class=True``, the mean over classes of each class's accuracy).
* Ties in a score row go to the lowest column id (``np.argmax`` / stable sort order).

Two protocols are implemented and always labelled (:data:`PROTOCOL_LABELS`; metric keys keep
their stored prefixes ``honest/`` and ``paper/``):

validation-calibrated (key ``honest``)
    ZSL top-1/top-5 on one score matrix (e.g. the fused spatial+temporal scores); GZSL with
    calibrated stacking (Chao et al., ECCV 2016: subtract a constant ``gamma`` from every
    seen-class score) where ``gamma`` is chosen on a *validation* split carved from training data
    (:func:`choose_calibration`), never on the test set.

official-code, test-tuned (key ``paper``)
    What the official code (``cseeyangchen/Neuron``, ``main_match.py``, ``Processor.eval``)
    computes, replicated in :func:`either_head_accuracy` and :func:`best_gamma_on_test`:

    * ZSL: the model is run with the unseen classes' descriptions only; each branch (spatial,
      temporal) gives per-round logits and only the **final round** is used. The top-1 accuracy
      counts a sample as correct when **either** the spatial head's argmax **or** the temporal
      head's argmax is the true class ("either-head" rule; an oracle OR of two classifiers, not a
      fused prediction). Only top-1 is reported.
    * GZSL: the model is run with all ``C_all`` classes' descriptions; the final-round logits of
      each head are turned into probabilities with a softmax over all classes; a calibration
      constant is subtracted from the seen-class columns, *separately* for each head
      (``cf_spa``, ``cf_tem``), each from the grid ``{0.00020, 0.00021, ..., 0.00030}`` (11
      values, :data:`PAPER_GAMMA_GRID`); the prediction of a head is the argmax of its calibrated
      probabilities over all classes. For every one of the 11 x 11 pairs it computes the
      per-sample seen accuracy (over test samples of seen classes) and unseen accuracy (over test
      samples of unseen classes) under the either-head rule, and H = 2 S U / (S + U). It reports
      the pair with the highest H (first maximum in the loop order spatial-outer, temporal-inner)
      **chosen on the test set itself**, together with that pair's S and U.
    * Both are computed on the test set after every training epoch; the code keeps no
      validation-based epoch selection (``best_acc`` is never updated).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

__all__ = [
    "PAPER_GAMMA_GRID",
    "PROTOCOL_LABELS",
    "ValidationScores",
    "to_numpy",
    "softmax",
    "fuse_scores",
    "harmonic_mean",
    "topk_accuracy",
    "zsl_accuracy",
    "gzsl_accuracy",
    "default_gamma_grid",
    "choose_calibration",
    "either_head_accuracy",
    "best_gamma_on_test",
    "evaluate_run",
    "confusion_matrix_unseen",
    "per_class_accuracy",
]

#: Display label of each protocol, by the prefix of its metric keys in ``metrics.json`` and the
#: reports: what the protocol does (the prefixes are kept so committed reports stay readable).
PROTOCOL_LABELS: dict[str, str] = {
    "honest": "validation-calibrated",
    "paper": "official-code (test-tuned)",
}

#: The official code's calibration grid (``[i / 100000 for i in range(20, 31)]``), applied to
#: softmax probabilities, searched on the test set.
PAPER_GAMMA_GRID: tuple[float, ...] = tuple(i / 100000 for i in range(20, 31))


class ValidationScores(NamedTuple):
    """Scores of a model trained with ``pseudo_unseen`` held out, on validation data.

    ``scores`` is ``(N_val, C_all)`` (same column convention as test scores); ``labels`` ``(N_val,)``
    holds samples of both ``seen`` (the validation-time seen classes: training classes minus the
    pseudo-unseen ones) and ``pseudo_unseen`` classes.
    """

    scores: Any
    labels: Any
    seen: Sequence[int]
    pseudo_unseen: Sequence[int]


# ----------------------------------------------------------------------------- helpers


def to_numpy(x: Any) -> np.ndarray:
    """numpy view of ``x`` (torch tensors are detached and copied to the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def softmax(scores: Any, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax, ``exp(s - max) / sum(exp(s - max))`` along ``axis``."""
    s = to_numpy(scores).astype(np.float64)
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    s = scores.astype(np.float64)
    m = s.max(axis=1, keepdims=True)
    return s - m - np.log(np.exp(s - m).sum(axis=1, keepdims=True))


def fuse_scores(spatial: Any = None, temporal: Any = None) -> np.ndarray:
    """Fuse two heads' ``(N, C_all)`` logits: mean of their log-softmaxes over all classes.

    ``log p_fused(c) = (log p_spa(c) + log p_tem(c)) / 2`` (up to a per-row constant: the log of
    the normalised geometric mean of the two distributions). Argmax over any subset of columns
    equals the argmax of the mean logits. One head may be ``None`` (its log-softmax is returned).
    """
    heads = [to_numpy(h) for h in (spatial, temporal) if h is not None]
    if not heads:
        raise ValueError("fuse_scores: both heads are None")
    return np.mean([_log_softmax(h) for h in heads], axis=0)


def harmonic_mean(a: float, b: float) -> float:
    """``H = 2ab / (a + b)``; 0 when ``a + b == 0``."""
    a, b = float(a), float(b)
    return 0.0 if a + b == 0 else 2.0 * a * b / (a + b)


def _check(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    s = to_numpy(scores)
    y = to_numpy(labels).astype(np.int64).reshape(-1)
    if s.ndim != 2:
        raise ValueError(f"scores must be (N, C_all), got shape {s.shape}")
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"scores has {s.shape[0]} rows but labels has {y.shape[0]} entries")
    if y.size and (y.min() < 0 or y.max() >= s.shape[1]):
        raise ValueError(f"labels must lie in [0, {s.shape[1]}); got range [{y.min()}, {y.max()}]")
    return s, y


def _classes(classes: Iterable[int], n_cols: int, what: str) -> np.ndarray:
    c = np.asarray(sorted({int(v) for v in classes}), dtype=np.int64)
    if c.size == 0:
        raise ValueError(f"{what}: empty class list")
    if c.min() < 0 or c.max() >= n_cols:
        raise ValueError(f"{what}: class ids must lie in [0, {n_cols}); got {c.tolist()}")
    return c


def _seen_of(seen: Iterable[int] | None, unseen: np.ndarray, n_cols: int) -> np.ndarray:
    if seen is None:
        return np.setdiff1d(np.arange(n_cols), unseen)
    s = _classes(seen, n_cols, "seen")
    if np.intersect1d(s, unseen).size:
        raise ValueError(f"seen and unseen overlap: {np.intersect1d(s, unseen).tolist()}")
    return s


def _predict(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Argmax over the candidate columns, returned as dataset class ids."""
    return candidates[np.argmax(scores[:, candidates], axis=1)]


# ----------------------------------------------------------------------------- ZSL


def topk_accuracy(scores: Any, labels: Any, classes: Iterable[int], topk: Sequence[int] = (1, 5)
                  ) -> dict[str, float]:
    """Per-sample top-k accuracy (%) of samples of ``classes``, predictions restricted to ``classes``.

    A sample is correct at k when its true class is among the ``min(k, len(classes))`` highest
    scores among ``classes`` (stable order: ties go to the lower class id).
    Returns ``{"top1": ..., "top5": ...}`` (keys always name the requested k).
    """
    s, y = _check(scores, labels)
    cls = _classes(classes, s.shape[1], "classes")
    mask = np.isin(y, cls)
    if not mask.any():
        raise ValueError("no test sample belongs to the given classes")
    sub = s[mask][:, cls]
    pos = np.searchsorted(cls, y[mask])  # column of the true class within `cls`
    order = np.argsort(-sub, axis=1, kind="stable")
    out = {}
    for k in topk:
        kk = min(int(k), cls.size)
        hit = (order[:, :kk] == pos[:, None]).any(axis=1)
        out[f"top{k}"] = 100.0 * float(hit.mean())
    return out


def zsl_accuracy(scores: Any, labels: Any, unseen: Iterable[int], topk: Sequence[int] = (1, 5)
                 ) -> dict[str, float]:
    """ZSL top-k accuracy (%): over unseen-class samples only, predictions among unseen classes.

    ``scores (N, C_all)``; samples of seen classes in ``labels`` are ignored. Top-k is capped at
    the number of unseen classes (e.g. top-5 with 5 unseen classes is 100%).
    """
    return topk_accuracy(scores, labels, unseen, topk)


# ----------------------------------------------------------------------------- GZSL


def _gzsl_from_correct(correct: np.ndarray, y: np.ndarray, seen: np.ndarray, unseen: np.ndarray,
                       per_class: bool) -> dict[str, float]:
    def acc(group: np.ndarray) -> float:
        m = np.isin(y, group)
        if not m.any():
            raise ValueError("GZSL needs test samples of both seen and unseen classes")
        if not per_class:
            return 100.0 * float(correct[m].mean())
        present = np.unique(y[m])
        return 100.0 * float(np.mean([correct[y == c].mean() for c in present]))

    a_s, a_u = acc(seen), acc(unseen)
    return {"seen": a_s, "unseen": a_u, "h": harmonic_mean(a_s, a_u)}


def _calibrated_predict(s: np.ndarray, seen: np.ndarray, unseen: np.ndarray, gamma: float
                        ) -> np.ndarray:
    cand = np.union1d(seen, unseen)
    sub = s[:, cand].astype(np.float64, copy=True)
    sub[:, np.isin(cand, seen)] -= float(gamma)
    return cand[np.argmax(sub, axis=1)]


def gzsl_accuracy(scores: Any, labels: Any, seen: Iterable[int] | None, unseen: Iterable[int],
                  gamma: float = 0.0, per_class: bool = False) -> dict[str, float]:
    """GZSL accuracy (%) with calibrated stacking (Chao et al. 2016).

    Prediction ``argmax_{c in S u U} (scores[:, c] - gamma * [c in S])`` over the seen and unseen
    classes together (``seen=None``: every column not in ``unseen``; columns in neither list are
    not candidates). ``gamma > 0`` moves predictions from seen to unseen classes.

    Returns ``{"seen": A_S, "unseen": A_U, "h": 2 A_S A_U / (A_S + A_U)}`` where, by default,
    ``A_S`` is the **per-sample** top-1 accuracy over test samples of seen classes (as in the
    official Neuron code); with ``per_class=True`` it is the mean over seen classes present in
    ``labels`` of each class's top-1 accuracy (likewise ``A_U``).
    """
    s, y = _check(scores, labels)
    u = _classes(unseen, s.shape[1], "unseen")
    se = _seen_of(seen, u, s.shape[1])
    pred = _calibrated_predict(s, se, u, gamma)
    return _gzsl_from_correct(pred == y, y, se, u, per_class)


def default_gamma_grid(scores: Any, seen: Iterable[int] | None, unseen: Iterable[int],
                       n: int = 201) -> np.ndarray:
    """A grid of ``n`` gammas spanning every value at which a calibrated prediction can change.

    With ``d_i = max_{c in S} s_ic - max_{c in U} s_ic``, sample ``i`` is predicted unseen iff
    ``gamma > d_i``; so the grid is ``linspace(min_i d_i, max_i d_i + eps, n)`` (all-seen to
    all-unseen predictions), with 0 (no calibration) added. It adapts to the score scale.
    """
    s = to_numpy(scores).astype(np.float64)
    u = _classes(unseen, s.shape[1], "unseen")
    se = _seen_of(seen, u, s.shape[1])
    d = s[:, se].max(axis=1) - s[:, u].max(axis=1)
    lo, hi = float(d.min()), float(d.max())
    eps = 1e-6 * max(1.0, abs(hi), abs(lo))
    return np.unique(np.append(np.linspace(lo, hi + eps, int(n)), 0.0))


def choose_calibration(scores_val: Any, labels_val: Any, seen: Iterable[int],
                       pseudo_unseen: Iterable[int], grid: Iterable[float] | None = None,
                       per_class: bool = False) -> tuple[float, "Any"]:
    """Choose the calibrated-stacking constant on validation data (validation-calibrated protocol).

    The validation split is carved from *training* data: a model is trained on the seen classes
    minus ``pseudo_unseen`` (classes held out from training, playing the unseen role), and
    ``scores_val (N_val, C_all)`` are its scores on held-out samples of ``seen`` (the
    validation-time seen classes) and of ``pseudo_unseen``. Candidates are ``seen u
    pseudo_unseen`` only (the test-time unseen classes never enter). For each ``gamma`` in
    ``grid`` (default :func:`default_gamma_grid` on these scores) it computes
    :func:`gzsl_accuracy` and returns the gamma with the highest H (first maximum in grid order)
    and the full table (a pandas DataFrame with columns gamma, seen, unseen, h).

    The gamma is only transferable to the test model if both score on the same scale (e.g. both
    logits of the same architecture and temperature).
    """
    import pandas as pd

    s, y = _check(scores_val, labels_val)
    if grid is None:
        grid = default_gamma_grid(s, seen, pseudo_unseen)
    rows = []
    for g in grid:
        r = gzsl_accuracy(s, y, seen, pseudo_unseen, float(g), per_class=per_class)
        rows.append({"gamma": float(g), **r})
    if not rows:
        raise ValueError("choose_calibration: empty grid")
    table = pd.DataFrame(rows)
    best = int(np.argmax(table["h"].to_numpy()))
    return float(table["gamma"].iloc[best]), table


# ----------------------------------------------------------------------------- official-code protocol


def either_head_accuracy(spatial_scores: Any, temporal_scores: Any, labels: Any,
                         classes: Iterable[int]) -> float:
    """Official-code protocol ZSL top-1 (%): right if the spatial **or** the temporal head is right.

    Each head's prediction is its argmax over ``classes`` (the unseen classes for ZSL); only
    samples whose label is in ``classes`` count. This is an oracle OR of two classifiers (it
    is >= either head's own accuracy and is not a deployable single prediction); it is what the
    official ``main_match.py`` prints as "Top1 Acc" for the final-round outputs. If one head is
    ``None`` the other head's plain top-1 accuracy is returned.
    """
    heads = [h for h in (spatial_scores, temporal_scores) if h is not None]
    if not heads:
        raise ValueError("either_head_accuracy: both heads are None")
    correct = None
    for h in heads:
        s, y = _check(h, labels)
        cls = _classes(classes, s.shape[1], "classes")
        mask = np.isin(y, cls)
        if not mask.any():
            raise ValueError("no sample belongs to the given classes")
        c = _predict(s[mask], cls) == y[mask]
        correct = c if correct is None else (correct | c)
    return 100.0 * float(correct.mean())


def best_gamma_on_test(spatial_scores: Any, temporal_scores: Any, labels: Any,
                       seen: Iterable[int] | None, unseen: Iterable[int],
                       grid: Iterable[float] = PAPER_GAMMA_GRID, apply_softmax: bool = True
                       ) -> dict[str, float]:
    """Official-code protocol GZSL (%): either-head rule, calibration constants chosen ON THE TEST SET.

    Replicates the official ``main_match.py``: each head's ``(N, C_all)`` final-round logits go
    through a softmax over the candidate classes (``seen u unseen``, i.e. all classes;
    ``apply_softmax=False`` skips it); for every pair ``(g_spa, g_tem)`` in ``grid x grid``
    (default :data:`PAPER_GAMMA_GRID`) each head subtracts its own constant from the seen
    columns and predicts the argmax; a sample is correct when either head is right; S and U are
    per-sample accuracies over seen / unseen test samples and H their harmonic mean. Returns the
    pair with the largest H (first maximum, spatial outer loop, temporal inner loop) as
    ``{"gamma_spatial", "gamma_temporal", "seen", "unseen", "h", "spatial_seen", "spatial_unseen",
    "spatial_h", "temporal_seen", ...}`` (per-head values at the selected pair, as the official
    log prints them). With one head ``None`` it is a 1-D search for the other head (its gamma
    key is omitted). This is optimistic (model selection on test labels) and is reported only
    to compare with the paper's numbers.
    """
    grid = [float(g) for g in grid]
    if not grid:
        raise ValueError("best_gamma_on_test: empty grid")
    heads = {"spatial": spatial_scores, "temporal": temporal_scores}
    heads = {k: v for k, v in heads.items() if v is not None}
    if not heads:
        raise ValueError("best_gamma_on_test: both heads are None")
    correct: dict[str, list[np.ndarray]] = {}
    y = se = u = None
    for name, h in heads.items():
        s, y = _check(h, labels)
        u = _classes(unseen, s.shape[1], "unseen")
        se = _seen_of(seen, u, s.shape[1])
        cand = np.union1d(se, u)
        p = np.full_like(s, -np.inf, dtype=np.float64)
        p[:, cand] = softmax(s[:, cand], axis=1) if apply_softmax else s[:, cand]
        correct[name] = [_calibrated_predict(p, se, u, g) == y for g in grid]
    per_head = {name: [_gzsl_from_correct(c, y, se, u, False) for c in cs]
                for name, cs in correct.items()}
    names = list(heads)
    best: dict[str, float] | None = None
    index_pairs = ([(i, j) for i in range(len(grid)) for j in range(len(grid))]
                   if len(names) == 2 else [(i,) for i in range(len(grid))])
    for idx in index_pairs:
        c = np.zeros_like(y, dtype=bool)
        for name, i in zip(names, idx):
            c |= correct[name][i]
        r = _gzsl_from_correct(c, y, se, u, False)
        if best is None or r["h"] > best["h"]:
            best = dict(r)
            for name, i in zip(names, idx):
                best[f"gamma_{name}"] = grid[i]
                for k, v in per_head[name][i].items():
                    best[f"{name}_{k}"] = v
    assert best is not None
    return best


# ----------------------------------------------------------------------------- one run


def evaluate_run(labels: Any, seen: Iterable[int] | None, unseen: Iterable[int], *,
                 spatial: Any = None, temporal: Any = None, fused: Any = None,
                 rounds: Mapping[str, Sequence[Any]] | None = None,
                 val: ValidationScores | tuple | None = None,
                 grid: Iterable[float] | None = None,
                 paper_grid: Iterable[float] = PAPER_GAMMA_GRID,
                 topk: Sequence[int] = (1, 5)) -> dict[str, float]:
    """All metrics of one trained model on one test set, as a flat JSON-able dict (percentages).

    Parameters
    ----------
    labels : (N,) test labels (dataset class ids); the test set holds seen and unseen samples
        (GZSL); ZSL metrics use only the unseen-class samples.
    seen, unseen : class-id lists (``seen=None``: all other classes).
    spatial, temporal : (N, C_all) final-round logits of each branch (either may be None).
    fused : (N, C_all) scores of the single fused prediction used by the validation-calibrated
        protocol; default :func:`fuse_scores` (spatial, temporal).
    rounds : ``{"spatial": [r1, r2, r3], "temporal": [...]}``, each (N, C_all) logits per round.
    val : :class:`ValidationScores` (scores in the same form as ``fused``, from a model trained
        without the pseudo-unseen classes) used to choose the validation-calibrated gamma.
        ``None``: no calibration (gamma = 0) and ``honest/calibrated = 0``.
    grid : gamma grid for :func:`choose_calibration` (default adapted to the val scores).
    paper_grid : grid of :func:`best_gamma_on_test` (default the official one).

    Keys
    ----
    ``honest/zsl_top{k}`` (fused scores); ``honest/{spatial,temporal}_zsl_top1``;
    ``honest/gzsl_{seen,unseen,h}`` (fused scores, calibrated stacking with ``honest/gamma``
    chosen on ``val``; no softmax: gamma is on the logit / log-probability scale);
    ``honest/calibrated`` (1 or 0);
    ``paper/zsl_top1`` (:func:`either_head_accuracy`); ``paper/gzsl_{seen,unseen,h}`` and
    ``paper/gamma_spatial``, ``paper/gamma_temporal`` (:func:`best_gamma_on_test`, softmax
    probabilities); ``paper/gamma`` is the spatial head's constant (the temporal one if there is
    no spatial head); ``rounds/{branch}_r{i}_zsl_top1`` (i from 1) per round and branch.
    """
    if fused is None:
        fused = fuse_scores(spatial, temporal)
    out: dict[str, float] = {}
    for k, v in zsl_accuracy(fused, labels, unseen, topk).items():
        out[f"honest/zsl_{k}"] = v
    for name, h in (("spatial", spatial), ("temporal", temporal)):
        if h is not None:
            out[f"honest/{name}_zsl_top1"] = zsl_accuracy(h, labels, unseen, (1,))["top1"]

    if val is not None:
        v = ValidationScores(*val)
        gamma, _ = choose_calibration(v.scores, v.labels, v.seen, v.pseudo_unseen, grid)
        out["honest/calibrated"] = 1
    else:
        gamma = 0.0
        out["honest/calibrated"] = 0
    g = gzsl_accuracy(fused, labels, seen, unseen, gamma)
    out.update({"honest/gzsl_seen": g["seen"], "honest/gzsl_unseen": g["unseen"],
                "honest/gzsl_h": g["h"], "honest/gamma": float(gamma)})

    if spatial is not None or temporal is not None:
        out["paper/zsl_top1"] = either_head_accuracy(spatial, temporal, labels, unseen)
        p = best_gamma_on_test(spatial, temporal, labels, seen, unseen, paper_grid)
        out.update({"paper/gzsl_seen": p["seen"], "paper/gzsl_unseen": p["unseen"],
                    "paper/gzsl_h": p["h"]})
        for name in ("spatial", "temporal"):
            if f"gamma_{name}" in p:
                out[f"paper/gamma_{name}"] = p[f"gamma_{name}"]
        out["paper/gamma"] = p.get("gamma_spatial", p.get("gamma_temporal"))

    for branch, per_round in (rounds or {}).items():
        for i, r in enumerate(per_round, start=1):
            out[f"rounds/{branch}_r{i}_zsl_top1"] = zsl_accuracy(r, labels, unseen, (1,))["top1"]
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


# ----------------------------------------------------------------------------- diagnostics


def confusion_matrix_unseen(scores: Any, labels: Any, unseen: Iterable[int]) -> np.ndarray:
    """ZSL confusion matrix ``(K, K)`` over the sorted unseen classes (sklearn).

    Row = true class, column = predicted class (argmax among unseen classes), entries are
    counts; only unseen-class samples are used. Row/column ``i`` is ``sorted(unseen)[i]``.
    """
    from sklearn.metrics import confusion_matrix

    s, y = _check(scores, labels)
    u = _classes(unseen, s.shape[1], "unseen")
    m = np.isin(y, u)
    return confusion_matrix(y[m], _predict(s[m], u), labels=u)


def per_class_accuracy(scores: Any, labels: Any, classes: Iterable[int],
                       candidates: Iterable[int] | None = None) -> dict[int, float]:
    """Top-1 accuracy (%) of each class in ``classes`` that has samples in ``labels``.

    Predictions are the argmax over ``candidates`` (default ``classes``: ZSL-style; pass all
    class ids for an uncalibrated GZSL view). Returns ``{class_id: accuracy}``.
    """
    s, y = _check(scores, labels)
    cls = _classes(classes, s.shape[1], "classes")
    cand = cls if candidates is None else _classes(candidates, s.shape[1], "candidates")
    m = np.isin(y, cls)
    pred = _predict(s[m], cand)
    ym = y[m]
    return {int(c): 100.0 * float((pred[ym == c] == c).mean()) for c in np.unique(ym)}



# ----------------------------------------------------------------------------- per-sample outcomes


#: Methods a run reports: the two trained models and two named evaluation variants of them
#: (no extra training): ``neuron_allrounds`` scores with every round of both branches (mean
#: log-softmax) instead of the final round only; ``ensemble`` is Neuron's fused score plus the
#: global-alignment baseline's log-softmax, equal weights; ``ensemble_allrounds`` is
#: ``neuron_allrounds`` plus the baseline's log-softmax, equal weights.
METHODS = ("neuron", "baseline", "neuron_allrounds", "ensemble", "ensemble_allrounds")
#: The peer heads a run may also train (``methods:``; docs/peers.md), reported like
#: :data:`METHODS` when present.
PEER_METHODS = ("smie", "sadvae", "star")
#: Every method name a study collects from ``metrics.json`` (those of a run that are present).
REPORTED_METHODS = METHODS + PEER_METHODS


def mean_log_softmax(score_sets: Sequence[Any]) -> np.ndarray:
    """Mean of the log-softmax of several ``(N, C)`` score matrices over their C columns (the
    fusion rule of :func:`fuse_scores` for any number of heads, rounds or models).

    Raises:
        ValueError: no score matrix, or matrices of different shapes.
    """
    mats = [to_numpy(x) for x in score_sets if x is not None]
    if not mats:
        raise ValueError("mean_log_softmax: no scores")
    if len({m.shape for m in mats}) != 1:
        raise ValueError(f"mean_log_softmax: shapes differ: {[m.shape for m in mats]}")
    return np.mean([_log_softmax(m) for m in mats], axis=0)
