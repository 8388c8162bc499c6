"""Tests of neuron.evaluate on hand-made score matrices with known answers."""
import json
import math

import numpy as np
import pytest

from neuron import evaluate as ev
from neuron import study

# 4 classes: seen {0, 1}, unseen {2, 3}. d_i = max seen - max unseen = 0.4, 0.5, 0.1, 0.2.
CAL_SCORES = np.array([
    [0.9, 0.1, 0.5, 0.0],  # label 0
    [0.2, 0.8, 0.1, 0.3],  # label 1
    [0.7, 0.0, 0.6, 0.1],  # label 2
    [0.6, 0.2, 0.0, 0.4],  # label 3
])
CAL_LABELS = np.array([0, 1, 2, 3])
GRID = [0.0, 0.15, 0.3, 0.45, 0.6]


def test_zsl_top1_top5_known():
    # 6 classes, unseen {1, 4, 5}
    scores = np.array([
        [9.0, 5.0, 0.0, 0.0, 1.0, 2.0],  # label 1: seen class 0 is highest overall, 1 best unseen
        [0.0, 1.0, 0.0, 0.0, 2.0, 3.0],  # label 4: unseen order 5 > 4 > 1 -> rank 2
        [0.0, 3.0, 0.0, 0.0, 2.0, 1.0],  # label 5: unseen order 1 > 4 > 5 -> rank 3
        [5.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # label 0: seen, ignored
    ])
    labels = np.array([1, 4, 5, 0])
    r = ev.zsl_accuracy(scores, labels, [1, 4, 5], topk=(1, 2, 5))
    assert r["top1"] == pytest.approx(100 / 3)
    assert r["top2"] == pytest.approx(200 / 3)
    assert r["top5"] == pytest.approx(100.0)  # capped at 3 unseen classes


def test_zsl_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    scores = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], requires_grad=True)
    r = ev.zsl_accuracy(scores, torch.tensor([1, 1]), [1, 2], topk=(1,))
    assert r == {"top1": 50.0}


def test_harmonic_mean():
    assert ev.harmonic_mean(0, 0) == 0.0
    assert ev.harmonic_mean(50, 100) == pytest.approx(200 / 3)
    assert ev.harmonic_mean(40, 40) == pytest.approx(40)


def test_calibration_shifts_predictions_to_unseen():
    r0 = ev.gzsl_accuracy(CAL_SCORES, CAL_LABELS, [0, 1], [2, 3], gamma=0.0)
    assert (r0["seen"], r0["unseen"], r0["h"]) == (100.0, 0.0, 0.0)
    r = ev.gzsl_accuracy(CAL_SCORES, CAL_LABELS, [0, 1], [2, 3], gamma=0.3)
    assert (r["seen"], r["unseen"], r["h"]) == (100.0, 100.0, 100.0)
    r = ev.gzsl_accuracy(CAL_SCORES, CAL_LABELS, [0, 1], [2, 3], gamma=0.45)
    assert r["seen"] == 50.0 and r["unseen"] == 100.0
    assert r["h"] == pytest.approx(200 / 3)
    # seen=None means "every other column"
    assert ev.gzsl_accuracy(CAL_SCORES, CAL_LABELS, None, [2, 3], 0.3)["h"] == 100.0


def test_gzsl_per_class_vs_per_sample():
    # seen class 0: 3 samples all right; seen class 1: 1 sample wrong; unseen class 2: right
    scores = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]], float)
    labels = np.array([0, 0, 0, 1, 2])
    ps = ev.gzsl_accuracy(scores, labels, [0, 1], [2])
    pc = ev.gzsl_accuracy(scores, labels, [0, 1], [2], per_class=True)
    assert ps["seen"] == 75.0 and pc["seen"] == 50.0
    assert ps["unseen"] == pc["unseen"] == 100.0


def test_choose_calibration_picks_known_best_gamma():
    gamma, table = ev.choose_calibration(CAL_SCORES, CAL_LABELS, [0, 1], [2, 3], GRID)
    assert gamma == 0.3
    assert list(table["h"].round(4)) == [0.0, round(200 / 3, 4), 100.0, round(200 / 3, 4), 0.0]
    # default grid (adapted to the scores) also reaches the optimum, inside (0.2, 0.4)
    gamma, table = ev.choose_calibration(CAL_SCORES, CAL_LABELS, [0, 1], [2, 3])
    assert 0.2 < gamma < 0.4 and table["h"].max() == 100.0


def test_choose_calibration_ignores_other_columns():
    # an extra column 4 (a true test-unseen class) with huge scores must not be a candidate
    scores = np.hstack([CAL_SCORES, np.full((4, 1), 99.0)])
    gamma, _ = ev.choose_calibration(scores, CAL_LABELS, [0, 1], [2, 3], GRID)
    assert gamma == 0.3


def test_either_head_counts_sample_right_if_one_head_right():
    labels = np.array([0, 1, 2, 0])
    spatial = np.eye(3)[[0, 1, 0, 1]]   # right on samples 0, 1
    temporal = np.eye(3)[[1, 0, 2, 2]]  # right on sample 2 only
    assert ev.either_head_accuracy(spatial, temporal, labels, [0, 1, 2]) == 75.0
    assert ev.either_head_accuracy(spatial, None, labels, [0, 1, 2]) == 50.0
    assert ev.either_head_accuracy(None, temporal, labels, [0, 1, 2]) == 25.0


def test_best_gamma_on_test_single_head():
    r = ev.best_gamma_on_test(CAL_SCORES, None, CAL_LABELS, [0, 1], [2, 3], GRID,
                              apply_softmax=False)
    assert r["gamma_spatial"] == 0.3 and "gamma_temporal" not in r
    assert (r["seen"], r["unseen"], r["h"]) == (100.0, 100.0, 100.0)


def test_best_gamma_on_test_either_head_and_tie_order():
    # temporal head: always right on seen samples, never on unseen ones (true class scored -1)
    temporal = np.array([
        [5.0, 0.0, 0.0, 0.0],
        [0.0, 5.0, 0.0, 0.0],
        [0.0, 0.0, -1.0, 0.0],
        [0.0, 0.0, 0.0, -1.0],
    ])
    r = ev.best_gamma_on_test(CAL_SCORES, temporal, CAL_LABELS, [0, 1], [2, 3], GRID,
                              apply_softmax=False)
    # spatial needs gamma > 0.2 for both unseen samples; 0.3, 0.45, 0.6 all give H = 100 with
    # the temporal head covering seen samples: the first maximum (0.3, 0.0) is kept
    assert (r["gamma_spatial"], r["gamma_temporal"]) == (0.3, 0.0)
    assert (r["seen"], r["unseen"], r["h"]) == (100.0, 100.0, 100.0)
    assert r["temporal_unseen"] == 0.0 and r["spatial_h"] == 100.0


def test_best_gamma_on_test_matches_brute_force_with_softmax():
    rng = np.random.default_rng(0)
    n, c = 200, 10
    unseen, seen = [2, 5, 7], [0, 1, 3, 4, 6, 8, 9]
    labels = rng.integers(0, c, n)
    spa = rng.normal(size=(n, c)) * 3 + 4 * np.eye(c)[labels]
    tem = rng.normal(size=(n, c)) * 3 + 4 * np.eye(c)[labels]
    grid = [0.0, 0.01, 0.03, 0.1]
    r = ev.best_gamma_on_test(spa, tem, labels, seen, unseen, grid)

    def pred(s, g):
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[:, seen] -= g
        return p.argmax(1)

    best = (-1, None)
    for gs in grid:
        for gt in grid:
            ok = (pred(spa, gs) == labels) | (pred(tem, gt) == labels)
            s_acc = 100 * ok[np.isin(labels, seen)].mean()
            u_acc = 100 * ok[np.isin(labels, unseen)].mean()
            h = ev.harmonic_mean(s_acc, u_acc)
            if h > best[0]:
                best = (h, (gs, gt, s_acc, u_acc))
    assert r["h"] == pytest.approx(best[0])
    assert (r["gamma_spatial"], r["gamma_temporal"]) == best[1][:2]
    assert (r["seen"], r["unseen"]) == pytest.approx(best[1][2:])
    assert len(ev.PAPER_GAMMA_GRID) == 11 and ev.PAPER_GAMMA_GRID[0] == 0.0002


def test_evaluate_run_keys_and_json():
    rng = np.random.default_rng(1)
    n, c = 120, 8
    unseen, seen = [1, 6], [0, 2, 3, 4, 5, 7]
    labels = rng.integers(0, c, n)
    spa = rng.normal(size=(n, c)) + 2 * np.eye(c)[labels]
    tem = rng.normal(size=(n, c)) + 2 * np.eye(c)[labels]
    # validation: a model trained without pseudo-unseen classes {3, 4}; seen_val = the rest
    vlab = rng.choice([0, 2, 3, 4, 5, 7], 80)
    vsc = rng.normal(size=(80, c)) + 2 * np.eye(c)[vlab]
    val = ev.ValidationScores(vsc, vlab, [0, 2, 5, 7], [3, 4])
    rounds = {"spatial": [spa * 0.5, spa, spa], "temporal": [tem, tem, tem]}
    out = ev.evaluate_run(labels, seen, unseen, spatial=spa, temporal=tem, rounds=rounds,
                          val=val)
    for k in ["honest/zsl_top1", "honest/zsl_top5", "honest/gzsl_seen", "honest/gzsl_unseen",
              "honest/gzsl_h", "honest/gamma", "paper/zsl_top1", "paper/gzsl_seen",
              "paper/gzsl_unseen", "paper/gzsl_h", "paper/gamma", "paper/gamma_spatial",
              "paper/gamma_temporal", "rounds/spatial_r1_zsl_top1",
              "rounds/temporal_r3_zsl_top1", "honest/spatial_zsl_top1"]:
        assert k in out, k
    assert out["honest/calibrated"] == 1
    assert out["honest/zsl_top5"] == 100.0  # only 2 unseen classes
    assert out["paper/zsl_top1"] >= max(out["honest/spatial_zsl_top1"],
                                        out["honest/temporal_zsl_top1"])
    json.dumps(out)
    # without validation data: uncalibrated
    out2 = ev.evaluate_run(labels, seen, unseen, fused=spa)
    assert out2["honest/gamma"] == 0.0 and out2["honest/calibrated"] == 0
    assert "paper/zsl_top1" not in out2


def test_confusion_and_per_class():
    scores = np.array([[0, 1, 0, 9], [0, 0, 1, 9], [0, 1, 0, 9], [9, 0, 0, 0]], float)
    labels = np.array([1, 1, 2, 0])
    cm = ev.confusion_matrix_unseen(scores, labels, [2, 1])  # sorted -> [1, 2]
    np.testing.assert_array_equal(cm, [[1, 1], [1, 0]])
    pc = ev.per_class_accuracy(scores, labels, [1, 2])
    assert pc == {1: 50.0, 2: 0.0}
    assert ev.per_class_accuracy(scores, labels, [1, 2], candidates=range(4)) == {1: 0.0, 2: 0.0}


def test_aggregate_mean_std():
    results = [
        {"method": "a", "seed": 0, "x": 1.0, "y": 10.0},
        {"method": "a", "seed": 1, "x": 3.0, "y": 10.0},
        {"method": "b", "seed": 0, "x": 5.0, "y": 2.0},
    ]
    df = study.aggregate(results, by=["method"])
    a = df[df["method"] == "a"].iloc[0]
    b = df[df["method"] == "b"].iloc[0]
    assert a["n"] == 2 and a["x_mean"] == 2.0 and a["x_std"] == pytest.approx(math.sqrt(2))
    assert a["y_std"] == 0.0 and b["x_mean"] == 5.0 and math.isnan(b["x_std"])
    assert "seed_mean" not in df.columns
    with pytest.raises(ValueError):
        study.aggregate(results, by=["protocol"])


def test_input_validation():
    with pytest.raises(ValueError):
        ev.zsl_accuracy(np.zeros((2, 3)), [0, 5], [1])
    with pytest.raises(ValueError):
        ev.gzsl_accuracy(np.zeros((2, 3)), [0, 1], [0, 1], [1])  # overlap
    with pytest.raises(ValueError):
        ev.zsl_accuracy(np.zeros((2, 3)), [0, 0], [1])  # no unseen sample
