"""No test-label leakage under the validation-calibrated ("honest") protocol: permuting the test
labels leaves every quantity chosen on validation unchanged (the calibration constant, the
chosen logit scale / study point, the chosen variant among the methods), while the test-chosen
constants of the paper protocol are free to move."""
import numpy as np

from neuron import evaluate as ev
from neuron.study import choose_on_validation

SEEN, UNSEEN = [0, 1, 2, 3, 4, 5], [6, 7, 8]


def _scores(rng, n, labels, signal=2.0):
    s = rng.normal(size=(n, 9))
    s[np.arange(n), labels] += signal
    return s


def _run(test_labels, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    y_val = rng.choice(SEEN, 120)  # validation: seen classes only, three of them pseudo-unseen
    val = ev.ValidationScores(_scores(rng, 120, y_val), y_val, [0, 1, 2], [3, 4, 5])
    y = np.asarray(test_labels)
    r2 = np.random.default_rng(rng_seed + 1)
    base = _scores(r2, y.size, np.random.default_rng(9).choice(9, y.size))  # scores fixed per sample
    spa, tem = base, base + r2.normal(scale=0.5, size=base.shape)
    return ev.evaluate_run(y, SEEN, UNSEEN, spatial=spa, temporal=tem, fused=ev.fuse_scores(spa, tem),
                           val=val)


def test_permuted_test_labels_leave_the_validation_calibration_unchanged():
    rng = np.random.default_rng(3)
    y = rng.choice(9, 300)
    a = _run(y)
    for k in range(5):
        b = _run(np.random.default_rng(10 + k).permutation(y))
        assert b["honest/gamma"] == a["honest/gamma"] and b["honest/calibrated"] == a["honest/calibrated"]
        assert b["honest/zsl_top1"] != a["honest/zsl_top1"] or b["honest/gzsl_h"] != a["honest/gzsl_h"]


def _rows(rng, points, methods):
    """Result rows of a study: validation metrics fixed per (point, method), test metrics random."""
    rows = []
    for i, p in enumerate(points):
        for j, m in enumerate(methods):
            for seed in range(3):
                rows.append({"point": p, "method": m, "seed": seed,
                             "val/zsl_top1": 50.0 + 3 * i - 2 * j + seed,
                             "val/gzsl_h": 40.0 + (i * 7 % 5) + j,
                             "honest/zsl_top1": float(rng.uniform(0, 100)),
                             "honest/gzsl_h": float(rng.uniform(0, 100))})
    return rows


def test_choices_on_validation_ignore_test_numbers():
    """The logit scale (a study point) and the variant (a method) chosen on validation metrics
    stay the same when the test metrics are shuffled among the rows (as permuted test labels
    would change them)."""
    points = ["neuron.logit_scale=10.0", "neuron.logit_scale=30.0", "neuron.logit_scale=100.0"]
    methods = list(ev.METHODS)
    rng = np.random.default_rng(0)
    rows = _rows(rng, points, methods)
    before = [choose_on_validation(rows, m, by="point", method="neuron")["choice"] for m in ("val/zsl_top1", "val/gzsl_h")]
    variant = choose_on_validation(rows, "val/zsl_top1", by="method")["choice"]
    for k in range(5):
        shuffled = [dict(r) for r in rows]
        perm = np.random.default_rng(k).permutation(len(rows))
        for key in ("honest/zsl_top1", "honest/gzsl_h"):
            vals = [rows[i][key] for i in perm]
            for r, v in zip(shuffled, vals):
                r[key] = v
        after = [choose_on_validation(shuffled, m, by="point", method="neuron")["choice"] for m in ("val/zsl_top1", "val/gzsl_h")]
        assert after == before
        assert choose_on_validation(shuffled, "val/zsl_top1", by="method")["choice"] == variant
    assert before[0] == "neuron.logit_scale=100.0" and variant == methods[0]
