"""No test-label leakage through a whole pipeline run: the smoke run (``params/runs/smoke.yaml``)
executed twice through its stage notebooks (:func:`neuron.pipeline.run_stages`), identical except
that the labels of the test samples are permuted among themselves (a fixed seeded permutation).

The permutation is made at the data boundary: the second run's processed-data cache
(:func:`neuron.data.cache.load_processed`, same file name and key) is a copy of the first run's
with ``labels[split.test]`` permuted, so the samples, their skeletons, the split's parts and the
training / validation labels are the same. Each run has its own cache folder, so nothing else is
shared between them.

Under the validation-calibrated protocol (stored key ``honest``) everything chosen or trained
before the final scoring must be unchanged: the encoder's and every head's trained weights (and
their calibration twins'), the training histories, the test scores, the calibration constant
(``honest/gamma``) and the validation metrics (``val/*``; ``valfolds/*``, on which variants are
chosen, with ``eval.val_folds: 2``), and every test sample's predicted class
(GZSL over all test samples; ZSL on the samples whose label is unseen in both runs). Only the
accuracies may move, and they must (else the permutation never reached the test labels).
"""
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT
from neuron.config import load_dataset_spec, load_run_config, load_split_spec, to_dict
from neuron.data import load_processed, make_split
from neuron.evaluate import METHODS as VARIANTS
from neuron.io import torch_load
from neuron.pipeline import STAGES, run_stages
from neuron.stages import METHODS

PERMUTATION_SEED = 20261207
#: Metrics computed from the test labels (the accuracies); everything else must not move.
TEST_SCORED = ("honest/", "paper/")
#: Chosen on validation only, although stored under the honest protocol's prefix.
VALIDATION_CHOSEN = ("honest/gamma", "honest/calibrated")


def _config() -> dict:
    """The smoke run at one thread, with two pseudo-unseen validation folds (``eval.val_folds``:
    the validation metrics variants are chosen on, ``valfolds/*``)."""
    return to_dict(load_run_config(ROOT / "params/runs/smoke.yaml", {"num_threads": 1, "eval.val_folds": 2}))


def _write_permuted_cache(cache_a: Path, cache_b: Path, config: dict, data_root: Path) -> np.ndarray:
    """Build run A's processed-data cache; write run B's as its copy with the test samples'
    labels permuted among them. Returns the test indices (dataset order)."""
    d = config["data"]
    spec = load_dataset_spec(d["dataset"])
    pdata = load_processed(spec, data_root, cache_a / "processed", d["skip_bad"])
    split = make_split(pdata, spec.for_protocol(d.get("protocol")), load_split_spec(d["split"]),
                       d["split_index"], d["val_fraction"], d["pseudo_unseen"], config["seed"])
    (src,) = (cache_a / "processed").glob(f"{spec.name}-{pdata.key}.npz")
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    labels = arrays["labels"].copy()
    test = np.asarray(split.test)
    labels[test] = labels[test][np.random.default_rng(PERMUTATION_SEED).permutation(len(test))]
    assert (labels[test] != arrays["labels"][test]).mean() > 0.5  # most test labels changed
    keep = np.setdiff1d(np.arange(len(labels)), test)
    assert np.array_equal(labels[keep], arrays["labels"][keep])
    arrays["labels"] = labels
    (cache_b / "processed").mkdir(parents=True)
    with open(cache_b / "processed" / src.name, "wb") as fh:
        np.savez(fh, **arrays)
    # the permuted copy makes the same split (same parts; only test labels differ)
    pb = load_processed(spec, data_root, cache_b / "processed", d["skip_bad"])
    sb = make_split(pb, spec.for_protocol(d.get("protocol")), load_split_spec(d["split"]),
                    d["split_index"], d["val_fraction"], d["pseudo_unseen"], config["seed"])
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(sb, part), getattr(split, part)), part
    assert (sb.seen, sb.unseen, sb.pseudo_unseen) == (split.seen, split.unseen, split.pseudo_unseen)
    return test


def _state(path: Path) -> dict:
    state = torch_load(path)
    return state.get("model", state)


def _assert_same_tensors(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def _validation_side(metrics: dict) -> dict:
    """A method's metrics that do not read the test labels."""
    return {k: v for k, v in metrics.items()
            if not k.startswith(TEST_SCORED) or k in VALIDATION_CHOSEN}


@pytest.mark.slow
def test_permuted_test_labels_change_nothing_chosen_on_validation(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    config = _config()
    cache_a, cache_b = tmp_path / "cache_a", tmp_path / "cache_b"
    test = _write_permuted_cache(cache_a, cache_b, config, data_root)
    t0 = time.time()
    for cache, run in ((cache_a, tmp_path / "run_a"), (cache_b, tmp_path / "run_b")):
        monkeypatch.setenv("NEURON_CACHE", str(cache))  # the kernels inherit it
        run_stages(run, config, list(STAGES))
    print(f"two smoke runs: {time.time() - t0:.0f} s")
    ma, mb = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("run_a", "run_b"))

    # the permutation reached the test labels (and only those)
    oa, ob = ma["outcomes"], mb["outcomes"]
    assert oa["test_sha"] == ob["test_sha"] and len(oa["labels"]) == len(test)
    assert oa["labels"] != ob["labels"] and sorted(oa["labels"]) == sorted(ob["labels"])
    assert any(ma[m]["honest/zsl_top1"] != mb[m]["honest/zsl_top1"]
               or ma[m]["honest/gzsl_h"] != mb[m]["honest/gzsl_h"] for m in VARIANTS)

    # trained weights: the encoder and every head with its calibration twin
    (enc_a,) = cache_a.glob("encoders/*/encoder.pt")
    (enc_b,) = cache_b.glob("encoders/*/encoder.pt")
    assert enc_a.parent.name == enc_b.parent.name  # same encoder key
    _assert_same_tensors(_state(enc_a), _state(enc_b), "encoder")
    ckpts = sorted(p.name for p in (tmp_path / "run_a").glob("*.ckpt"))
    assert {"neuron.ckpt", "neuron_twin.ckpt", "baseline.ckpt", "baseline_twin.ckpt"} <= set(ckpts)
    assert ckpts == sorted(p.name for p in (tmp_path / "run_b").glob("*.ckpt"))
    for name in ckpts:
        _assert_same_tensors(_state(tmp_path / "run_a" / name), _state(tmp_path / "run_b" / name), name)
    # the test scores the final scoring reads
    for name in ("scores.pt", "baseline_scores.pt"):
        sa, sb = torch_load(tmp_path / "run_a" / name), torch_load(tmp_path / "run_b" / name)
        _assert_same_tensors(sa["fused"], sb["fused"], name)

    _assert_validation_side_unchanged(ma, mb)
    # the check can fail: a calibration constant that moved, a validation metric, a prediction
    for tamper in (_move_gamma, _move_val_metric, _move_valfolds, _flip_prediction):
        changed = json.loads(json.dumps(mb))
        tamper(changed)
        with pytest.raises(AssertionError):
            _assert_validation_side_unchanged(ma, changed)


def _move_gamma(m: dict) -> None:
    m["neuron"]["honest/gamma"] += 1e-6


def _move_val_metric(m: dict) -> None:
    m["baseline"]["val/zsl_top1"] = -1.0


def _move_valfolds(m: dict) -> None:
    m["ensemble_allrounds"]["valfolds/zsl_top1"] += 1.0


def _flip_prediction(m: dict) -> None:
    m["outcomes"]["ensemble"]["honest"]["gzsl"][0] += 1


def _assert_validation_side_unchanged(ma: dict, mb: dict) -> None:
    """Two runs' ``metrics.json``: every method's and variant's validation-side metrics
    (``val/*``, ``valfolds/*``, ``honest/gamma``...), the training histories, and the per-sample
    predictions of the validation-calibrated protocol are equal."""
    for m in VARIANTS:
        va, vb = _validation_side(ma[m]), _validation_side(mb[m])
        assert "honest/gamma" in va and any(k.startswith("val/") for k in va), m
        assert any(k.startswith("valfolds/") for k in va), m
        assert va == vb, (m, {k: (va[k], vb.get(k)) for k in va if va[k] != vb.get(k)})
    for name in METHODS:
        if f"{name}_history" in ma:
            assert ma[f"{name}_history"] == mb[f"{name}_history"], name
    # per-sample predictions: GZSL of every test sample; ZSL of those unseen in both runs
    oa, ob = ma["outcomes"], mb["outcomes"]
    ya, yb = np.asarray(oa["labels"]), np.asarray(ob["labels"])
    ua, ub = np.isin(ya, ma["unseen"]), np.isin(yb, mb["unseen"])
    both = ua & ub
    assert both.any() and (ua != ub).any()
    for m in VARIANTS:
        assert oa[m]["honest"]["gzsl"] == ob[m]["honest"]["gzsl"], m
        za, zb = np.full(len(ya), -1), np.full(len(yb), -1)
        za[ua], zb[ub] = oa[m]["honest"]["zsl"], ob[m]["honest"]["zsl"]
        assert np.array_equal(za[both], zb[both]), m
