"""Defects found by reading our code against the official one, and their fixes/options:
weights fingerprint, calibration-twin steps, one fusion rule, the 64-frame minimum crop,
augmented Neuron-stage views, and choosing hyperparameters on validation metrics only."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neuron import keys, notebook, stages
from neuron.config import RunConfig, from_dict
from neuron.data.loader import WindowDataset
from neuron.data.transforms import crop_resize
from neuron.errors import NeuronError
from neuron.evaluate import fuse_scores
from neuron.study import choose_on_validation
from neuron.train import Features, ViewChoice, batches_per_epoch, fit, score_neuron, train_neuron


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


C, V, T, FD, D, K = 6, 5, 8, 16, 12, 4


def _cfg(**over) -> RunConfig:
    base = {"seed": 0, "device": "cpu",
            "neuron": {"num_prototypes": 6, "compress_per_round": 1, "top_k": 4, "logit_scale": 10.0},
            "neuron_train": {"epochs": 2, "batch_size": 8, "steps": [1]},
            "baseline": {"hidden": 16, "logit_scale": 10.0},
            "baseline_train": {"epochs": 2, "batch_size": 8, "steps": [1]},
            "side_info": {"k": K}, "eval": {"calibration_grid": 11}}
    from neuron.config import deep_update
    return from_dict(RunConfig, deep_update(base, over), "test")


def _feats(seed=0, n_per=8):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(C, FD, generator=g)
    labels = torch.arange(C).repeat_interleave(n_per)
    base = centres[labels] + 0.3 * torch.randn(len(labels), FD, generator=g)
    f_s = base[:, :, None].repeat(1, 1, V) + 0.1 * torch.randn(len(labels), FD, V, generator=g)
    f_t = base[:, :, None].repeat(1, 1, T) + 0.1 * torch.randn(len(labels), FD, T, generator=g)
    return Features(f_s, f_t, base, labels, torch.arange(len(labels)), key="enc0/features-a.pt")


def _sem(seed=0, source="shipped", encoder_id="all-MiniLM-L6-v2"):
    g = torch.Generator().manual_seed(100 + seed)
    levels = [torch.randn(C, K, D, generator=g) for _ in range(6)]
    return stages.Semantics(levels[:3], levels[3:], encoder_id, source, D)


def _bundle(feats):
    """A stand-in for stages.DataBundle: seen 0-3 (pseudo-unseen 3), unseen 4-5; per class the
    first 5 samples train, 1 val, 2 test."""
    lab = feats.labels.numpy()
    pos = np.concatenate([np.arange((lab == c).sum()) for c in range(C)])
    seen, unseen, pseudo = [0, 1, 2, 3], [4, 5], [3]
    train = np.where(np.isin(lab, seen) & (pos < 5))[0]
    val = np.where(np.isin(lab, seen) & (pos == 5))[0]
    test = np.where((np.isin(lab, seen) & (pos >= 6)) | np.isin(lab, unseen))[0]
    split = SimpleNamespace(seen=seen, unseen=unseen, pseudo_unseen=pseudo, train=train, val=val, test=test)
    return SimpleNamespace(pdata=SimpleNamespace(key="proc0", num_classes=C), split=split)


# ----------------------------------------------------------------------------- fingerprint
def test_weights_fingerprint_changes_with_everything_that_determines_the_weights():
    cfg, feats, sem = _cfg(), _feats(), _sem()
    bundle = _bundle(feats)

    def full(cfg=cfg, feats=feats, sem=sem, bundle=bundle, kind="neuron", classes=(0, 1, 2, 3)):
        fp = keys.weights_fingerprint(cfg, bundle, sem, feats, kind, list(classes))
        train_cfg = cfg.neuron_train if kind == "neuron" else cfg.baseline_train
        return keys.checkpoint_fingerprint(train_cfg, cfg.seed, fp)

    ref = full()
    assert full() == ref  # deterministic
    other_feats = _feats()
    other_feats.key = "enc1/features-a.pt"  # another encoder (key) or feature file
    unkeyed = _feats()
    unkeyed.key = None  # falls back to a hash of the values
    unkeyed2 = _feats(seed=1)
    unkeyed2.key = None
    variants = {
        "encoder / feature key": full(feats=other_feats),
        "side-info source": full(cfg=_cfg(side_info={"source": "class_names"})),
        "side-info texts (embeddings)": full(sem=_sem(seed=1)),
        "text encoder": full(sem=_sem(encoder_id="all-mpnet-base-v2")),
        "k": full(cfg=_cfg(side_info={"k": 5})),
        "train recipe": full(cfg=_cfg(neuron_train={"lr": 0.05})),
        "epochs": full(cfg=_cfg(neuron_train={"epochs": 3})),
        "seed": full(cfg=_cfg(seed=1)),
        "classes": full(classes=(0, 1, 2)),
        "augmentation views": full(cfg=_cfg(neuron_train={"views": 2})),
        "views crop": full(cfg=_cfg(neuron_train={"views": 2}, data={"min_crop_frames": 1})),
        "model": full(cfg=_cfg(neuron={"rounds": 2, "windows": [0.5, 1.0]})),
        "precision": full(cfg=_cfg(precision="bf16")),
        "baseline": full(kind="baseline"),
    }
    assert full(feats=unkeyed) != full(feats=unkeyed2)  # value hash tells feature sets apart
    for name, fp in variants.items():
        assert fp != ref, name
    assert len(set(variants.values())) == len(variants)


def test_changed_side_info_retrains_instead_of_reusing_finished_weights(tmp_path):
    cfg, feats = _cfg(), _feats()
    bundle, dev = _bundle(feats), torch.device("cpu")
    a = stages.stage_neuron(cfg, bundle, _sem(), feats, tmp_path, dev, progress=False)
    ckpt = torch.load(tmp_path / "neuron.ckpt", weights_only=True)
    # same inputs: the finished checkpoint is reused, same metrics
    again = stages.stage_neuron(cfg, bundle, _sem(), feats, tmp_path, dev, progress=False)
    assert again["neuron"] == a["neuron"]
    # other texts: refused without --force, retrained with it (new fingerprint, new weights)
    with pytest.raises(NeuronError, match="different parameters"):
        stages.stage_neuron(cfg, bundle, _sem(seed=1), feats, tmp_path, dev, progress=False)
    b = stages.stage_neuron(cfg, bundle, _sem(seed=1), feats, tmp_path, dev, progress=False, force=True)
    ckpt_b = torch.load(tmp_path / "neuron.ckpt", weights_only=True)
    assert ckpt_b["fingerprint"] != ckpt["fingerprint"]
    assert not torch.equal(ckpt_b["model"]["spatial_project.0.weight"], ckpt["model"]["spatial_project.0.weight"])
    assert b["neuron_history"] != a["neuron_history"]
    # one fusion rule: the report's per-class accuracy reproduces the headline ZSL top-1
    scores = notebook.load_scores(tmp_path)
    cm, per_class = notebook.unseen_confusion(scores, bundle.split.unseen)
    assert 100 * np.trace(cm) / cm.sum() == pytest.approx(b["neuron"]["honest/zsl_top1"])


# ----------------------------------------------------------------------------- twin steps
def test_twin_gets_as_many_optimiser_steps_as_its_model():
    data = torch.utils.data.TensorDataset(torch.randn(13, 3), torch.zeros(13, dtype=torch.long))
    from neuron.config import OptimConfig

    cfg = OptimConfig(epochs=2, batch_size=4, steps=[5])
    model = torch.nn.Linear(3, 2)
    calls = []

    def step(m, batch):
        calls.append(len(batch[0]))
        return m(batch[0]).sum() * 0

    fit(model, data, cfg, step, 0, torch.device("cpu"), progress=False)
    assert calls == [4] * 6  # one pass: 13 // 4 = 3 batches per epoch (drop_last)
    model_steps = batches_per_epoch(40, 4)  # the model being calibrated has 40 samples
    calls.clear()
    fit(model, data, cfg, step, 0, torch.device("cpu"), progress=False, steps_per_epoch=model_steps)
    assert calls == [4] * (2 * model_steps)
    # stage default is "match"; "data" keeps the one-pass twin
    assert _cfg().eval.twin_steps == "match" and _cfg(eval={"twin_steps": "data"}).eval.twin_steps == "data"


# ----------------------------------------------------------------------------- fusion
def test_scores_fused_is_the_mean_log_softmax_of_the_final_round():
    from neuron.models import Neuron

    feats, sem = _feats(), _sem()
    torch.manual_seed(0)
    model = Neuron(text_dim=D, feat_dim=FD, num_prototypes=6, compress_per_round=1, top_k=4, logit_scale=10.0)
    s = score_neuron(model, feats, list(range(C)), sem.spatial, sem.temporal, torch.device("cpu"))
    ref = fuse_scores(s.spatial, s.temporal)
    assert np.allclose(s.fused.numpy(), ref, atol=1e-6)
    # the model's own sum-of-softmax scores are a different rule (log-softmax is not a softmax)
    assert not np.allclose(s.fused.numpy(), model(feats.f_s, feats.f_t, sem.spatial, sem.temporal).scores.detach().numpy())


# ----------------------------------------------------------------------------- minimum crop
def test_random_crop_keeps_at_least_min_frames():
    seq = np.broadcast_to(np.arange(100, dtype=np.float32)[None, :, None, None], (3, 100, 2, 1)).copy()
    short = crop_resize(seq, 100, 50, 0.5, 0.0)  # no lower bound: 50 frames 0..49
    assert short[0, :, 0, 0].tolist() == list(range(50))
    out = crop_resize(seq, 100, 64, 0.5, 0.0, min_frames=64)  # official: max(50, 64) = 64 frames
    assert out[0, :, 0, 0].tolist() == list(range(64))
    assert crop_resize(seq, 40, 40, 0.5, 0.0, min_frames=64)[0, :, 0, 0].tolist() == list(range(40))  # capped
    assert RunConfig().data.min_crop_frames == 64
    # the training loader applies it: every random crop of a 100-frame sequence spans >= 64 frames
    pdata = SimpleNamespace(data=seq[None], lengths=np.array([100]), labels=np.array([0]),
                            layout=SimpleNamespace(parents=lambda: np.array([0, 0])))
    ds = WindowDataset(pdata, np.array([0]), window=100, train=True, p_interval=(0.1, 0.2), min_crop=64)
    for e in range(5):
        ds.set_epoch(e)
        x = ds[0][0][0, :, 0, 0].numpy()
        assert x.max() - x.min() >= 62.9


# ----------------------------------------------------------------------------- views
def test_view_choice_is_seeded_per_epoch_and_views_differ():
    fs = torch.arange(3.0)[:, None, None, None].expand(3, 10, 2, 4).clone()  # view v has value v
    ft = fs[..., :3].clone()
    vc = ViewChoice(fs, ft, torch.zeros(10, dtype=torch.long), seed=0)
    first = [float(vc[i][0][0, 0]) for i in range(10)]
    vc.set_epoch(1)
    second = [float(vc[i][0][0, 0]) for i in range(10)]
    vc.set_epoch(0)
    assert [float(vc[i][0][0, 0]) for i in range(10)] == first  # deterministic
    assert first != second and len(set(first + second)) > 1
    assert vc[0][0].shape == (2, 4) and vc[0][1].shape == (2, 3)


def test_augmented_views_are_cached_keyed_and_differ(tmp_path, monkeypatch):
    from neuron.models import ShiftGCN

    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4, 3, 80, 5, 1)).astype(np.float32)
    pdata = SimpleNamespace(data=data, lengths=np.array([80, 70, 60, 80]), labels=np.array([0, 1, 0, 1]),
                            layout=SimpleNamespace(parents=lambda: np.zeros(5, dtype=int)))
    split = SimpleNamespace(train=np.array([0, 1, 3]))

    class B:
        pass

    b = B()
    b.pdata, b.split = pdata, split
    b.windows = lambda cfg, idx, train, classes=None: stages.DataBundle.windows(b, cfg, idx, train, classes)
    cfg = _cfg(neuron_train={"views": 2}, data={"window": 16, "random_rotation": 10.0})
    torch.manual_seed(0)
    enc = ShiftGCN(num_classes=2, num_point=5, num_person=1).eval()
    folder = tmp_path / "enc"
    folder.mkdir()
    views = stages.augmented_views(cfg, b, enc, folder, torch.device("cpu"), progress=False)
    assert len(views) == 2 and views[0].f_s.shape == (3, 256, 5) and views[0].f_t.shape == (3, 256, 4)
    assert not torch.allclose(views[0].f_s, views[1].f_s)
    files = list(folder.glob("views-*.pt"))
    assert len(files) == 1
    again = stages.augmented_views(cfg, b, enc, folder, torch.device("cpu"), progress=False)
    assert torch.equal(again[1].f_t, views[1].f_t)
    stages.augmented_views(_cfg(neuron_train={"views": 3}, data={"window": 16, "random_rotation": 10.0}),
                           b, enc, folder, torch.device("cpu"), progress=False)
    assert len(list(folder.glob("views-*.pt"))) == 2  # another view count: another cache file


def test_train_neuron_on_views_is_deterministic_and_differs_from_one_view():
    from neuron.config import OptimConfig
    from neuron.models import Neuron

    feats, sem = _feats(), _sem()
    views = [_feats(seed=s) for s in (1, 2)]
    for v in views:
        v.labels = feats.labels
    cfg = OptimConfig(epochs=2, batch_size=8, steps=[1])

    def run(views):
        torch.manual_seed(0)
        m = Neuron(text_dim=D, feat_dim=FD, num_prototypes=6, compress_per_round=1, top_k=4, logit_scale=10.0)
        train_neuron(m, feats, list(range(C)), sem.spatial, sem.temporal, cfg, 0, torch.device("cpu"),
                     progress=False, views=views)
        return m.spatial_project[0].weight.detach().clone()

    a, b, plain = run(views), run(views), run(None)
    assert torch.equal(a, b) and not torch.allclose(a, plain)


# ----------------------------------------------------------------------------- validation choice
def test_choose_on_validation_uses_val_metrics_only():
    rows = [{"point": "s=1", "method": "neuron", "val/gzsl_h": 40.0, "honest/gzsl_h": 90.0},
            {"point": "s=1", "method": "neuron", "val/gzsl_h": 50.0, "honest/gzsl_h": 90.0},
            {"point": "s=30", "method": "neuron", "val/gzsl_h": 60.0, "honest/gzsl_h": 10.0},
            {"point": "s=1", "method": "baseline", "val/gzsl_h": 99.0}]
    res = choose_on_validation(rows, "val/gzsl_h", method="neuron")
    assert res["choice"] == "s=30" and res["means"] == {"s=1": 45.0, "s=30": 60.0} and res["n"]["s=1"] == 2
    assert choose_on_validation(rows, "val/gzsl_h")["choice"] == "s=1"  # baseline row counts then
    with pytest.raises(ValueError, match="not a validation metric"):
        choose_on_validation(rows, "honest/gzsl_h")
    with pytest.raises(ValueError, match="no row"):
        choose_on_validation(rows, "val/zsl_top1")
    folds = [{"point": "p", "method": m, "valfolds/zsl_top1": v, "honest/zsl_top1": 100 - v}
             for m, v in (("neuron", 50.0), ("neuron_allrounds", 70.0), ("baseline", 60.0))]
    assert choose_on_validation(folds, "valfolds/zsl_top1", by="method")["choice"] == "neuron_allrounds"


def test_new_studies_expand():
    from conftest import ROOT
    from neuron.config import load_study_config

    for name in ("sweep_logit_scale_val", "augmented_views"):
        st = load_study_config(ROOT / "params" / "studies" / f"{name}.yaml")
        assert st.seeds == [0, 1, 2]
    assert len(load_study_config(ROOT / "params/studies/sweep_logit_scale_val.yaml").variants) == 6
