"""Tests of neuron.analysis: compactness on constructed clusters, figures, saving."""
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from neuron import analysis as an  # noqa: E402


def test_compactness_identical_points_orthogonal_classes():
    e = np.eye(3)
    feats = np.repeat(e, 4, axis=0) * np.linspace(0.5, 3, 12)[:, None]  # scale must not matter
    labels = np.repeat([0, 1, 2], 4)
    r = an.compactness(feats, labels)
    assert r["intra"] == pytest.approx(1.0)
    assert r["inter"] == pytest.approx(0.0)
    assert r["separation"] == pytest.approx(1.0)
    assert r["dispersion_ratio"] == pytest.approx(0.0)
    assert r["per_class"] == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})


def test_compactness_spread_clusters_known_values():
    theta = 0.4
    e = np.eye(4)
    c0 = [math.cos(theta) * e[0] + s * math.sin(theta) * e[1] for s in (1, -1)]
    c1 = [math.cos(theta) * e[2] + s * math.sin(theta) * e[3] for s in (1, -1)]
    r = an.compactness(np.array(c0 + c1), [7, 7, 9, 9])
    assert r["intra"] == pytest.approx(math.cos(theta))
    assert r["inter"] == pytest.approx(0.0, abs=1e-12)
    assert r["dispersion_ratio"] == pytest.approx(1 - math.cos(theta))


def test_compactness_negative_inter():
    # three classes at 120 degrees in a plane: mean pairwise centroid cosine = -1/2
    ang = np.array([0, 2, 4]) * np.pi / 3
    feats = np.stack([np.cos(ang), np.sin(ang)], 1)
    r = an.compactness(np.repeat(feats, 2, axis=0), np.repeat([0, 1, 2], 2))
    assert r["inter"] == pytest.approx(-0.5)
    assert r["separation"] == pytest.approx(1.5)
    assert r["dispersion_ratio"] == pytest.approx(0.0)
    one = an.compactness(feats, [0, 0, 0])
    assert math.isnan(one["inter"])


def _clusters(rng, n_per=10, k=3, d=8, noise=0.3):
    centers = rng.normal(size=(k, d)) * 3
    labels = np.repeat(np.arange(k), n_per)
    return centers[labels] + noise * rng.normal(size=(k * n_per, d)), labels


def test_tsne_rounds_figure_and_save(tmp_path):
    rng = np.random.default_rng(0)
    reps = [_clusters(rng, noise=n)[0] for n in (2.0, 1.0, 0.2)]
    labels = np.repeat(np.arange(3), 10)
    fig = an.plot_tsne_rounds(reps, labels, ["wave", "sit", "jump"], "Spatial round")
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title() == "Spatial round 1"
    paths = an.save_figure(fig, tmp_path / "fig4.tsne")
    assert [p.name for p in paths] == ["fig4.tsne.png", "fig4.tsne.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["fig4.tsne.png", "fig4.tsne.svg"]


def test_tsne_embed_small_n_deterministic():
    x = np.random.default_rng(1).normal(size=(5, 4))
    a = an.tsne_embed(x, seed=3)
    b = an.tsne_embed(x, seed=3)
    assert a.shape == (5, 2)
    np.testing.assert_allclose(a, b)


def test_other_figures(tmp_path):
    rng = np.random.default_rng(2)
    fig = an.plot_compactness({"spatial": [0.5, 0.6, 0.7], "temporal": [0.4, 0.5, 0.65]})
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 2

    with_m = [rng.normal(size=(6, 256)) for _ in range(3)]
    without = [rng.normal(size=(6, 256)) for _ in range(3)]
    fig = an.plot_prototype_heatmaps(with_m, without)
    assert len(fig.axes) >= 6  # 2 x 3 panels (+ colour bars)
    fig = an.plot_prototype_heatmaps(with_m)
    assert len(fig.axes) >= 3

    hist = [{"epoch": i, "loss": 1 / (i + 1), "acc": 10 * i} for i in range(5)]
    fig = an.plot_curves(hist, ["loss", "acc"])
    assert len(fig.axes) == 2

    fig = an.plot_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert len(fig.axes) >= 1

    df = pd.DataFrame([{"lr": lr, "seed": s, "honest/zsl_top1": lr * 100 + s,
                        "honest/gzsl_h": 50 + s} for lr in (0.1, 0.2, 0.3) for s in (0, 1)])
    fig = an.plot_metric_vs_param(df, "lr")
    assert len(fig.axes) == 2

    seq = np.zeros((3, 4, 5, 2))
    seq[:, :, :, 0] = rng.normal(size=(3, 4, 5))  # second person is padding
    fig = matplotlib.figure.Figure()
    ax = fig.subplots()
    an.draw_skeleton(ax, seq, [(0, 1), (1, 2), (2, 3), (3, 4)], frame=2)
    assert len(ax.lines) == 4
    an.save_figure(fig, tmp_path / "skel")
    assert (tmp_path / "skel.svg").exists()
