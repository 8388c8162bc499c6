"""Named evaluation variants (every round scored, Neuron + baseline ensemble) and the
pseudo-unseen validation folds (``eval.val_folds``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neuron import stages
from neuron.evaluate import METHODS, mean_log_softmax
from neuron.stats import sample_correctness
from neuron.train import Scores

from test_protocol_fixes import (C, _bundle, _cfg, _feats, _one_thread,  # noqa: F401  (shared
                                 _sem)  # synthetic run; _one_thread is an autouse fixture)


def _log_softmax(x):
    return torch.log_softmax(torch.as_tensor(x, dtype=torch.float64), dim=1).numpy()


def test_variant_scores_are_mean_log_softmaxes():
    g = torch.Generator().manual_seed(0)
    classes = [0, 2, 3]
    rounds = {b: [torch.randn(4, 3, generator=g) for _ in range(3)] for b in ("spatial", "temporal")}
    s = Scores(classes, torch.zeros(4, 3), rounds["spatial"][-1], rounds["temporal"][-1], rounds)
    b = Scores(classes, torch.randn(4, 3, generator=g))
    out = stages.variant_scores(s, b, _cfg(), 5)
    allr = np.mean([_log_softmax(x) for x in rounds["spatial"] + rounds["temporal"]], axis=0)
    assert np.allclose(out["neuron_allrounds"][:, classes], allr, atol=1e-5)
    fused = (_log_softmax(rounds["spatial"][-1]) + _log_softmax(rounds["temporal"][-1])) / 2
    assert np.allclose(out["ensemble"][:, classes], (fused + _log_softmax(b.fused)) / 2, atol=1e-5)
    assert (out["ensemble"][:, [1, 4]] < -1e3).all()  # absent classes stay out of the argmax
    assert np.allclose(out["ensemble_allrounds"][:, classes], (allr + _log_softmax(b.fused)) / 2, atol=1e-5)
    assert set(stages.variant_scores(s, None, _cfg(), 5)) == {"neuron_allrounds"}  # no baseline
    with pytest.raises(ValueError, match="different classes"):
        stages.variant_scores(s, Scores([0, 1, 2], b.fused), _cfg(), 5)
    with pytest.raises(ValueError, match="shapes differ"):
        mean_log_softmax([np.zeros((2, 3)), np.zeros((2, 4))])


def test_validation_folds_partition_the_seen_classes():
    seen = list(range(3, 25))
    folds = stages.validation_folds(seen, 4, seed=0)
    assert sorted(c for f in folds for c in f) == seen
    assert sorted(len(f) for f in folds) == [5, 5, 6, 6]
    assert folds == stages.validation_folds(seen, 4, seed=0)
    assert folds != stages.validation_folds(seen, 4, seed=1)
    with pytest.raises(ValueError, match="fewer than 2"):
        stages.validation_folds([0, 1, 2], 2, seed=0)


def test_stage_neuron_reports_every_method_and_fold_validation(tmp_path):
    cfg, feats = _cfg(eval={"val_folds": 2, "calibration_grid": 11}), _feats()
    bundle = _bundle(feats)
    res = stages.stage_neuron(cfg, bundle, _sem(), feats, tmp_path, torch.device("cpu"), progress=False)
    for m in METHODS:
        assert 0 <= res[m]["honest/zsl_top1"] <= 100, m
        assert 0 <= res[m]["valfolds/zsl_top1"] <= 100, m
        # 2 folds over seen 0-3: every training-subject sample of a seen class is pseudo-unseen once
        assert res[m]["valfolds/samples"] == 4 * 6, m
        # per-sample outcomes reproduce the headline ZSL number
        right = sample_correctness(res["outcomes"]["labels"], bundle.split.unseen, res["outcomes"][m],
                                   "honest")
        assert 100 * right["zsl"][right["unseen"]].mean() == pytest.approx(res[m]["honest/zsl_top1"]), m
    for i in range(2):
        assert (tmp_path / f"neuron_fold{i}.ckpt").exists() and (tmp_path / f"baseline_fold{i}.ckpt").exists()
    # resumes from the finished fold checkpoints with the same numbers
    again = stages.stage_neuron(cfg, bundle, _sem(), feats, tmp_path, torch.device("cpu"), progress=False)
    assert again["ensemble"]["valfolds/zsl_top1"] == res["ensemble"]["valfolds/zsl_top1"]


def test_a_registered_method_is_fitted_scored_and_reported_like_the_built_in_ones(tmp_path, monkeypatch):
    """A method added to stages.METHODS goes through the same fit-and-score path: a second copy
    of the baseline (same model section, same seed) reproduces the baseline's numbers."""
    base = stages.METHODS["baseline"]
    monkeypatch.setitem(stages.METHODS, "baseline_copy", stages.Method(
        base.new, base.fit, base.score, "baseline_train", "baseline"))
    cfg, feats = _cfg(eval={"val_folds": 2, "calibration_grid": 11}), _feats()
    res = stages.stage_neuron(cfg, _bundle(feats), _sem(), feats, tmp_path, torch.device("cpu"), progress=False)
    assert res["baseline_copy"] == res["baseline"]
    assert res["outcomes"]["baseline_copy"] == res["outcomes"]["baseline"]
    assert (tmp_path / "baseline_copy.ckpt").exists() and (tmp_path / "baseline_copy_twin.ckpt").exists()
    assert (tmp_path / "baseline_copy_fold1.ckpt").exists()
