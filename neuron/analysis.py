"""Representation analysis and figures (paper Figs. 4 and 5; training curves; sweeps).

All plotting functions build a :class:`matplotlib.figure.Figure` directly (no ``pyplot`` state,
no ``plt.show``), so they work under the Agg backend, in scripts and in notebooks; write them
with :func:`save_figure`.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from neuron.io import atomic_path

__all__ = [
    "compactness",
    "tsne_embed",
    "plot_tsne_rounds",
    "plot_compactness",
    "plot_prototype_heatmaps",
    "plot_curves",
    "plot_confusion",
    "plot_metric_vs_param",
    "save_figure",
    "draw_skeleton",
]


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _l2n(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


# ----------------------------------------------------------------------------- metrics


def compactness(features: Any, labels: Any) -> dict[str, Any]:
    """Intra-class compactness and inter-class separation of ``features (N, D)`` (paper Fig. 4d/5d).

    With ``x_i`` L2-normalised and, for each class ``c`` with ``n_c`` samples, the centroid
    ``mu_c = normalise(mean_{i: y_i = c} x_i)``:

    * ``intra_c = (1 / n_c) sum_{i: y_i = c} cos(x_i, mu_c)``  (in [0, 1]; 1 = all samples of the
      class point the same way) and ``intra = mean_c intra_c`` (each class weighs the same);
    * ``inter = mean_{c != c'} cos(mu_c, mu_c')`` over ordered pairs of distinct classes (in
      [-1, 1]; 0 = orthogonal centroids; NaN with one class);
    * ``separation = intra - inter`` (higher = more compact and better separated);
    * ``dispersion_ratio = (1 - intra) / (1 - inter)``: within-class spread over between-class
      spread, both as mean ``1 - cos`` (= half the squared distance of unit vectors). Lower is
      better, 0 for collapsed classes, well-defined for any ``inter < 1`` (``inf`` when all
      centroids coincide but classes are spread, NaN when both are 0/0).

    Returns ``{"intra", "inter", "separation", "dispersion_ratio", "per_class": {c: intra_c}}``.
    """
    x = _l2n(_np(features).astype(np.float64))
    y = _np(labels).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"features must be (N, D) with N = len(labels); got {x.shape}, {y.shape}")
    classes = np.unique(y)
    mus, per_class = [], {}
    for c in classes:
        xc = x[y == c]
        mu = _l2n(xc.mean(axis=0))
        mus.append(mu)
        per_class[c.item()] = float((xc @ mu).mean())
    intra = float(np.mean(list(per_class.values())))
    k = len(classes)
    if k > 1:
        m = np.stack(mus)
        g = m @ m.T
        inter = float((g.sum() - np.trace(g)) / (k * (k - 1)))
    else:
        inter = float("nan")
    num, den = 1.0 - intra, 1.0 - inter
    if den > 0:
        ratio = num / den
    elif np.isnan(den):
        ratio = float("nan")
    else:
        ratio = float("nan") if abs(num) < 1e-12 else float("inf")
    return {"intra": intra, "inter": inter, "separation": intra - inter,
            "dispersion_ratio": float(ratio), "per_class": per_class}


def tsne_embed(features: Any, seed: int = 0, perplexity: float = 30.0,
               normalize: bool = True) -> np.ndarray:
    """2-D t-SNE embedding ``(N, 2)`` of ``features (N, D)`` (sklearn ``TSNE``, PCA init).

    ``perplexity`` is capped at ``max(1, (N - 1) / 3)`` so small sets work (sklearn needs
    ``perplexity < N``). ``normalize`` L2-normalises features first (the model compares them by
    cosine similarity). Deterministic for a given ``seed``.
    """
    from sklearn.manifold import TSNE

    x = _np(features).astype(np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"tsne_embed needs (N >= 2, D) features; got {x.shape}")
    if normalize:
        x = _l2n(x)
    p = float(min(perplexity, max(1.0, (x.shape[0] - 1) / 3.0)))
    p = min(p, x.shape[0] - 1 - 1e-3)
    tsne = TSNE(n_components=2, perplexity=p, init="pca", learning_rate="auto",
                random_state=seed)
    return tsne.fit_transform(x)


# ----------------------------------------------------------------------------- figures


def _class_name(class_names: Any, c: Any) -> str:
    if class_names is None:
        return str(c)
    if isinstance(class_names, Mapping):
        return str(class_names.get(c, c))
    try:
        return str(class_names[int(c)])
    except (IndexError, TypeError, ValueError):
        return str(c)


def plot_tsne_rounds(reps_per_round: Sequence[Any], labels: Any, class_names: Any = None,
                     title_prefix: str = "Round", seed: int = 0, perplexity: float = 30.0,
                     point_size: float = 8.0) -> Figure:
    """t-SNE of representations after each evolution round, one panel per round (paper Fig. 4a-c).

    ``reps_per_round``: list of ``(N, D)`` arrays (same N samples each round); ``labels (N,)``
    colours points by class; ``class_names`` is a list indexed by class id or a dict (legend).
    Panel ``r`` is titled ``f"{title_prefix} {r}"``.
    """
    import seaborn as sns

    y = _np(labels).reshape(-1)
    classes = list(np.unique(y))
    palette = sns.color_palette("husl" if len(classes) > 10 else "tab10", len(classes))
    n = len(reps_per_round)
    if n == 0:
        raise ValueError("plot_tsne_rounds: no rounds given")
    fig = Figure(figsize=(4.0 * n, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    for r, (ax, reps) in enumerate(zip(axes, reps_per_round), start=1):
        emb = tsne_embed(reps, seed=seed, perplexity=perplexity)
        for color, c in zip(palette, classes):
            m = y == c
            ax.scatter(emb[m, 0], emb[m, 1], s=point_size, color=color,
                       label=_class_name(class_names, c))
        ax.set_title(f"{title_prefix} {r}")
        ax.set_xticks([])
        ax.set_yticks([])
    if len(classes) <= 20:
        axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small",
                        markerscale=2, frameon=False)
    return fig


def plot_compactness(rounds_values: Mapping[str, Sequence[float]],
                     ylabel: str = "intra-class compactness", title: str | None = None) -> Figure:
    """Compactness per evolution round, one line per branch (paper Fig. 4d / Fig. 5d style).

    ``rounds_values``: ``{branch: [value after round 1, round 2, ...]}``.
    """
    fig = Figure(figsize=(4.5, 3.5), layout="constrained")
    ax = fig.subplots()
    for branch, vals in rounds_values.items():
        vals = [float(v) for v in vals]
        ax.plot(range(1, len(vals) + 1), vals, marker="o", label=str(branch))
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    n = max((len(v) for v in rounds_values.values()), default=0)
    ax.set_xticks(range(1, n + 1))
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    return fig


def plot_prototype_heatmaps(protos_with_memory: Sequence[Any],
                            protos_without: Sequence[Any] | None = None,
                            cmap: str = "viridis") -> Figure:
    """Heatmaps of one sequence's temporal micro-prototypes across rounds (paper Fig. 5a-c).

    ``protos_with_memory``: list over rounds of ``(P, 256)`` prototype matrices (rows =
    prototypes, columns = feature channels) of the full model; ``protos_without``: the same for
    the model without the memory (ablation), drawn as a second row. One colour scale is shared
    by all panels so rounds are comparable.
    """
    import seaborn as sns

    rows = [("with memory", list(protos_with_memory))]
    if protos_without is not None:
        rows.append(("without memory", list(protos_without)))
    n_cols = max(len(r[1]) for r in rows)
    if n_cols == 0:
        raise ValueError("plot_prototype_heatmaps: no rounds given")
    mats = [[_np(m).astype(np.float64) for m in r[1]] for r in rows]
    vmin = min(float(m.min()) for ms in mats for m in ms)
    vmax = max(float(m.max()) for ms in mats for m in ms)
    fig = Figure(figsize=(4.0 * n_cols, 2.4 * len(rows) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), n_cols, squeeze=False))
    for i, ((label, _), ms) in enumerate(zip(rows, mats)):
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(ms):
                ax.set_axis_off()
                continue
            sns.heatmap(ms[j], ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, rasterized=True,
                        cbar=(j == n_cols - 1), xticklabels=False, yticklabels=False)
            ax.set_title(f"round {j + 1} ({label})")
            ax.set_xlabel("channel")
            ax.set_ylabel("prototype")
    return fig


def plot_curves(history: Sequence[Mapping[str, Any]], keys: Sequence[str],
                x: str = "epoch") -> Figure:
    """Training curves: one panel per key in ``keys``, x = ``record[x]`` (else the record index).

    ``history`` is a list of per-epoch dicts (e.g. read with :func:`neuron.io.read_jsonl`);
    records lacking a key are skipped for that panel.
    """
    keys = list(keys)
    if not keys:
        raise ValueError("plot_curves: no keys")
    fig = Figure(figsize=(4.0 * len(keys), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(keys)))
    for ax, k in zip(axes, keys):
        xs = [rec.get(x, i) for i, rec in enumerate(history) if rec.get(k) is not None]
        ys = [float(rec[k]) for rec in history if rec.get(k) is not None]
        ax.plot(xs, ys, marker="." if len(ys) < 50 else None)
        ax.set_xlabel(x)
        ax.set_title(k)
        ax.grid(alpha=0.3)
    return fig


def plot_confusion(cm: Any, class_names: Sequence[str] | None = None, normalize: bool = True,
                   title: str | None = None) -> Figure:
    """Heatmap of a confusion matrix ``(K, K)`` (rows true, columns predicted; seaborn).

    ``normalize`` divides each row by its total (recall per class, rows with no sample stay 0).
    """
    import seaborn as sns

    m = _np(cm).astype(np.float64)
    if normalize:
        tot = m.sum(axis=1, keepdims=True)
        m = np.divide(m, tot, out=np.zeros_like(m), where=tot > 0)
    k = m.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    side = max(4.0, 0.45 * k + 2.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(m, ax=ax, annot=k <= 15, fmt=".2f" if normalize else "g", cmap="Blues",
                xticklabels=names, yticklabels=names, vmin=0, vmax=1 if normalize else None,
                square=True)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return fig


def plot_metric_vs_param(df: Any, param: str,
                         metrics: Sequence[str] = ("honest/zsl_top1", "honest/gzsl_h"),
                         hue: str | None = None) -> Figure:
    """Hyperparameter sweep: metric vs ``param``, one panel per metric (seaborn ``lineplot``).

    ``df`` holds one row per run (e.g. seeds); the line is the mean over runs at each ``param``
    value with a +-1 standard-deviation band (``errorbar="sd"``), optionally split by ``hue``.
    """
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame(df)
    metrics = list(metrics)
    fig = Figure(figsize=(4.2 * len(metrics), 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, m in zip(axes, metrics):
        sns.lineplot(data=df, x=param, y=m, hue=hue, errorbar="sd", marker="o", ax=ax)
        ax.set_title(m)
        ax.grid(alpha=0.3)
    return fig


def save_figure(fig: Figure, path_stem: str | os.PathLike, dpi: int = 150) -> list[Path]:
    """Write ``fig`` to ``<path_stem>.png`` and ``<path_stem>.svg`` atomically; return both paths."""
    paths = []
    for fmt in ("png", "svg"):
        p = Path(f"{os.fspath(path_stem)}.{fmt}")
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        paths.append(p)
    return paths


def draw_skeleton(ax: Any, seq: Any, edges: Sequence[tuple[int, int]], frame: int = 0,
                  colors: Sequence[str] = ("tab:blue", "tab:red", "tab:green", "tab:orange")
                  ) -> Any:
    """Draw frame ``frame`` of a skeleton sequence ``seq (3, T, V, M)`` in the x-y plane.

    ``edges``: 0-based joint pairs (bones). Persons whose joints are all zero at that frame
    (padding) are skipped; person ``m`` uses ``colors[m % len(colors)]``. Returns ``ax``.
    """
    s = _np(seq)
    if s.ndim != 4 or s.shape[0] < 2:
        raise ValueError(f"seq must be (3, T, V, M); got {s.shape}")
    for m in range(s.shape[3]):
        xy = s[:2, frame, :, m]  # (2, V)
        if not np.any(s[:, frame, :, m]):
            continue
        col = colors[m % len(colors)]
        for i, j in edges:
            ax.plot([xy[0, i], xy[0, j]], [xy[1, i], xy[1, j]], color=col, lw=1.5)
        ax.scatter(xy[0], xy[1], s=10, color=col, zorder=3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------- data and text reports
def plot_class_counts(labels_by_part: Mapping[str, Any], class_names: Sequence[str],
                      highlight: Sequence[int] = ()) -> Figure:
    """Bar chart of samples per class for each part (e.g. train / val / test).

    ``labels_by_part``: part name -> ``(N_part,)`` dataset class ids. Classes in ``highlight``
    (the unseen ones) are marked with ``*`` in the tick labels.
    """
    import pandas as pd
    import seaborn as sns

    rows = [{"class": f"{c}{'*' if c in set(highlight) else ''} {class_names[c][:28]}", "part": part,
             "count": int(np.sum(_np(lab) == c))}
            for part, lab in labels_by_part.items() for c in range(len(class_names))]
    df = pd.DataFrame(rows)
    df = df[df.groupby("class")["count"].transform("sum") > 0]
    fig = Figure(figsize=(max(6.0, 0.35 * df["class"].nunique()), 4.0), layout="constrained")
    ax = fig.subplots()
    sns.barplot(data=df, x="class", y="count", hue="part", ax=ax)
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    ax.set_title("Samples per class (* = unseen)")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # beside, not on the bars
    return fig


def plot_length_histogram(lengths: Any, bins: int = 30) -> Figure:
    """Histogram of sequence lengths in frames."""
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.hist(_np(lengths), bins=bins, color="tab:blue")
    ax.set_xlabel("frames")
    ax.set_ylabel("sequences")
    ax.set_title("Sequence length")
    return fig


def plot_skeleton_grid(sequences: Sequence[Any], lengths: Sequence[int], titles: Sequence[str],
                       edges: Sequence[tuple[int, int]], cols: int = 7) -> Figure:
    """One skeleton per panel (its middle frame), e.g. one sample per class.

    ``sequences[i]``: ``(3, T, V, M)`` metres (x right, y up). Titles are wrapped (20
    characters a line, at most 3 lines), not cut.
    """
    n = len(sequences)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(1.6 * cols, 2.1 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, seq, length, title in zip(axes, sequences, lengths, titles):
        draw_skeleton(ax, seq, edges, frame=int(length) // 2)
        ax.set_title("\n".join(textwrap.wrap(title, 20, max_lines=3, placeholder="...")), fontsize=7)
        ax.set_aspect("equal")
    return fig


def plot_class_similarity(class_emb: Any, class_names: Sequence[str], highlight: Sequence[int] = ()
                          ) -> Figure:
    """Heatmap of cosine similarity between class embeddings ``(C, D)`` (text space).

    Unseen classes (``highlight``) are marked with ``*``: a reader sees whether they are
    separable from each other and from the seen classes in text space.
    """
    import seaborn as sns

    e = _l2n(_np(class_emb).astype(np.float64))
    sim = e @ e.T
    names = [f"{'*' if c in set(highlight) else ''}{n[:24]}" for c, n in enumerate(class_names)]
    size = max(5.0, 0.3 * len(names))
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(sim, xticklabels=names, yticklabels=names, cmap="viridis", ax=ax, square=True,
                rasterized=True)
    ax.tick_params(labelsize=6)
    ax.set_title("Cosine similarity of class side information (* = unseen)")
    return fig
