"""Zero-shot prediction (neuron.predict, ``python -m neuron predict``, notebooks/06_predict.ipynb):
a finished smoke run's test clips get the scores and ZSL predictions of that run's evaluation;
bad clips, class lists, files and run folders raise clear errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from neuron import predict as npred
from neuron.config import load_run_config, to_dict
from neuron.data.base import SkeletonDataset
from neuron.data.generic import write_generic_npz
from neuron.data.layouts import KINECT_V1_20
from neuron.errors import DataError, NeuronError, SideInfoError
from neuron.io import torch_load, torch_save, write_json

UTD_CLIP = "utd_mhad/Skeleton/a1_s2_t1_skeleton.mat"


@pytest.fixture(scope="session")
def smoke_run(data_root, tmp_path_factory):
    """The smoke study run once (into a temporary runs root): its run folder."""
    from neuron.pipeline import run_study

    base = tmp_path_factory.mktemp("predict_smoke")
    run_study(ROOT / "params/studies/smoke.yaml", runs_root=base / "runs", reports_root=base / "reports",
              progress=False)
    return base / "runs/smoke/default/utd_mhad_smoke_0/seed0"


@pytest.fixture(scope="session")
def predictor(smoke_run):
    return npred.Predictor(smoke_run, "neuron")


@pytest.fixture(scope="session")
def smoke_bundle(predictor):
    from neuron import stages

    return stages.stage_data(predictor.cfg)


def _clip_file(data_root, bundle, j):
    return data_root / "utd_mhad/Skeleton" / f"{bundle.pdata.sample_names[int(j)]}.mat"


def _smoke_manifest(tmp_path, extra=None):
    """A run folder holding only the smoke run's manifest."""
    run = tmp_path / "run"
    run.mkdir(parents=True)
    cfg = load_run_config(ROOT / "params/runs/smoke.yaml")
    write_json(run / "manifest.json", {"params": to_dict(cfg), **({"extra": extra} if extra else {})})
    return run


# --------------------------------------------------------------------------- agreement with evaluation
@pytest.mark.slow
def test_top1_of_unseen_test_clips_equals_the_runs_zsl_predictions(smoke_run, predictor, smoke_bundle, data_root):
    """Every unseen-class test clip of the run, scored against the run's unseen class names with
    the run's side information, has the run's ZSL prediction (metrics.json outcomes) as top-1."""
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    names = smoke_bundle.class_names
    unseen = metrics["unseen"]
    test = np.asarray(smoke_bundle.split.test)
    labels = np.asarray(metrics["outcomes"]["labels"])
    assert labels.tolist() == smoke_bundle.pdata.labels[test].tolist()  # outcomes are in test order
    um = np.isin(labels, unseen)
    expected = [names[c] for c in metrics["outcomes"]["neuron"]["honest"]["zsl"]]
    got = [predictor.predict(_clip_file(data_root, smoke_bundle, j), [names[c] for c in unseen],
                             side_info="run", top_k=1).top1 for j in test[um]]
    assert len(got) == int(um.sum()) > 0
    assert got == expected


@pytest.mark.slow
def test_scores_equal_the_runs_test_scores(smoke_run, predictor, smoke_bundle, data_root):
    """Scored against all the run's classes, a test clip's Neuron score (mean final-round
    log-softmax) equals scores.pt; the baseline's logits equal baseline_scores.pt."""
    scores = torch_load(smoke_run / "scores.pt")
    classes = scores["classes"].tolist()
    names = [smoke_bundle.class_names[c] for c in classes]
    test = np.asarray(smoke_bundle.split.test)
    sem = predictor.semantics(names, predictor.run_side_info())
    base = npred.Predictor(smoke_run, "baseline")
    bsem = base.semantics(names, base.run_side_info())
    bscores = torch_load(smoke_run / "baseline_scores.pt")["fused"].numpy()
    for i in (0, len(test) // 2, len(test) - 1):
        clip = npred.read_clip(_clip_file(data_root, smoke_bundle, test[i]))
        s = predictor.scores(predictor.features(predictor.preprocess(clip)), sem)[0]
        np.testing.assert_allclose(s, scores["fused"][i].numpy(), atol=1e-4)
        b = base.scores(base.features(base.preprocess(clip)), bsem)[0]
        np.testing.assert_allclose(b, bscores[i], atol=1e-4)


@pytest.mark.slow
def test_generic_npz_clip_scores_as_the_native_file(predictor, data_root, tmp_path):
    """The same sequence as a generic .npz gives the native .mat file's probabilities; a file
    of several samples needs the sample's index or name."""
    seq = npred.read_clip(data_root / UTD_CLIP).sequence
    ds = SkeletonDataset("mine", [seq, seq[:, :30]], [0, 1], [1, 1], [0, 0], [0, 0], ["wave", "short"],
                         ["a", "b"], KINECT_V1_20)
    path = tmp_path / "two.npz"
    write_generic_npz(path, ds)
    classes = ["a person waves", "a person sits down", "a person throws"]
    ref = predictor.predict(data_root / UTD_CLIP, classes)
    got = predictor.predict(path, classes, sample="wave")
    assert got.format == "generic" and ref.format == "utd_mhad"
    np.testing.assert_allclose(got.probabilities, ref.probabilities, atol=1e-6)
    assert predictor.predict(path, classes, sample=1).sample == "short"
    with pytest.raises(DataError, match="holds 2 samples"):
        predictor.predict(path, classes)


@pytest.mark.slow
def test_cli_prints_top_k_and_writes_json(smoke_run, data_root, tmp_path, capsys):
    from neuron.__main__ import main

    classes_file = tmp_path / "classes.txt"
    classes_file.write_text("# my actions\na person waves\n\na person sits down\na person claps\n")
    out = tmp_path / "pred.json"
    assert main(["predict", "--run", str(smoke_run), "--input", str(data_root / UTD_CLIP),
                 "--classes-file", str(classes_file), "--top-k", "2", "--method", "baseline",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["method"] == "baseline" and res["format"] == "utd_mhad"
    assert [c["class"] for c in res["classes"]] == ["a person waves", "a person sits down", "a person claps"]
    assert abs(sum(c["probability"] for c in res["classes"]) - 1) < 1e-9
    assert len(res["top_k"]) == 2 and res["top_k"][0]["probability"] >= res["top_k"][1]["probability"]
    assert res["top_k"][0]["class"] in printed and "baseline" in printed and str(out) in printed
    assert res["preprocessing"] == {"window": 64, "crop_ratio": 1.0, "stream": "joint",
                                    "centre_joint": "spine", "layout": "kinect_v1_20"}
    # default output: the run folder's predictions/; --side-info run: the run's unseen classes
    assert main(["predict", "--run", str(smoke_run), "--input", str(data_root / UTD_CLIP),
                 "--classes", "right arm swipe to the left", "right arm throw", "--side-info", "run"]) == 0
    default = smoke_run / "predictions" / "a1_s2_t1_skeleton-neuron.json"
    assert json.loads(default.read_text())["side_info"].endswith("params/side_info/utd_mhad")
    assert main(["predict", "--run", str(smoke_run), "--input", str(data_root / UTD_CLIP),
                 "--classes", "a person waves", "A person  waves"]) == 2
    assert "duplicated class name" in capsys.readouterr().err


@pytest.mark.slow
def test_notebook_runs_on_a_finished_run(smoke_run, tmp_path, data_root):
    """notebooks/06_predict.ipynb under papermill with the smoke run and typed class names."""
    import nbformat

    out = tmp_path / "06.ipynb"
    env = {**os.environ, "NEURON_DATA_ROOT": str(data_root), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "papermill", "notebooks/06_predict.ipynb", str(out),
                           "-p", "run_dir", str(smoke_run), "-p", "side_info", "",
                           "-y", "classes: [a person waves, a person sits down, a person jumps]",
                           "-p", "progress", "False", "--cwd", str(ROOT)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    book = nbformat.read(str(out), as_version=4)
    text = "".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.outputs)
    assert "head: neuron" in text and "a person sits down" in text
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the frame strip and the bar chart


# --------------------------------------------------------------------------- clips that do not fit
@pytest.mark.slow
def test_clips_that_do_not_fit_the_model_are_refused(predictor, data_root, tmp_path):
    from test_data_ntu import person, skeleton_text

    classes = ["a person waves", "a person sits down"]
    # NW-UCLA: 20 Kinect v1 joints in another order
    with pytest.raises(npred.ClipMismatchError, match="layout nw_ucla_20 differs from the model's kinect_v1_20"):
        predictor.predict(data_root / "nw_ucla/all_sqe/a01_s01_e00_v01.json", classes)
    # NTU: 25 joints
    ntu = tmp_path / "S001C001P001R001A001.skeleton"
    ntu.write_text(skeleton_text([[("72057594037931101", j)] for j in person(20)]))
    with pytest.raises(npred.ClipMismatchError, match="25 joints .*layout ntu_25.*takes 20"):
        predictor.predict(ntu, classes)
    seq = npred.read_clip(data_root / UTD_CLIP).sequence
    # 2 channels (xy) for a model of 3
    xy = npred.Clip(seq[:2], None, tmp_path / "xy.npz", "generic", "xy")
    with pytest.raises(npred.ClipMismatchError, match="2 channels per joint, the model takes 3"):
        predictor.predict(xy, classes)
    two = npred.Clip(np.concatenate([seq, seq], axis=3), KINECT_V1_20, tmp_path / "two.npz", "generic", "two")
    with pytest.raises(npred.ClipMismatchError, match="2 persons, the model takes at most 1"):
        predictor.predict(two, classes)


@pytest.mark.slow
def test_side_info_folder_without_the_classes(predictor, data_root):
    with pytest.raises(SideInfoError, match="a person waves"):
        predictor.predict(data_root / UTD_CLIP, ["a person waves", "right hand wave"], side_info="run")


# --------------------------------------------------------------------------- fast error cases
@pytest.mark.parametrize("classes, match", [
    ([], "empty"), (["a person waves"], "only one class"), (["waves", "  "], "class 2 of 2 is an empty name"),
    (["a person waves", "sits", "a person waves"], "duplicated class name.*'a person waves'"),
    (["Waves", "waves "], "duplicated"), ("a person waves", "single string"), (None, "expected a list"),
])
def test_bad_class_lists(classes, match):
    with pytest.raises(npred.ClassListError, match=match):
        npred.check_classes(classes)


def test_classes_file(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("# comment\n waves \n\nsits down\n")
    assert npred.read_classes_file(f) == ["waves", "sits down"]
    f.write_text("waves\nwaves\n")
    with pytest.raises(npred.ClassListError, match=f"{f}: duplicated"):
        npred.read_classes_file(f)
    with pytest.raises(DataError, match="unreadable class list"):
        npred.read_classes_file(tmp_path / "none.txt")
    with pytest.raises(npred.ClassListError, match="not both"):
        npred.predict(tmp_path, "clip.mat", classes=["a", "b"], classes_file=f)


def test_unreadable_clip_files(tmp_path, data_root):
    with pytest.raises(DataError, match="no such clip file"):
        npred.read_clip(tmp_path / "missing.mat")
    bad = tmp_path / "clip.avi"
    bad.write_bytes(b"\0\1")
    with pytest.raises(DataError, match="unknown clip format '.avi'"):
        npred.read_clip(bad)
    mat = tmp_path / "broken.mat"
    mat.write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 7)
    with pytest.raises(DataError, match="broken.mat: unreadable MATLAB file"):
        npred.read_clip(mat)
    npz = tmp_path / "broken.npz"
    npz.write_bytes(b"PK\3\4 not a zip")
    with pytest.raises(DataError, match="broken.npz"):
        npred.read_clip(npz)
    csv = tmp_path / "POSE-p1_1-Wave-1.csv"
    csv.write_text("Timestamp,HeadX\n1,0.5\n")
    with pytest.raises(DataError, match="missing column"):
        npred.read_clip(csv)
    js = tmp_path / "a01_s01_e00_v01.json"
    js.write_text("{not json")
    with pytest.raises(DataError, match="unreadable JSON"):
        npred.read_clip(js)
    with pytest.raises(DataError, match="holds one clip"):
        npred.read_clip(data_root / UTD_CLIP, sample=3)


def test_mat_formats_are_told_apart_by_their_variables(tmp_path, data_root):
    """UTD-MHAD (d_skel) and Penn Action (x, y, visibility) share the suffix: the variables decide;
    a .mat file with neither is refused."""
    import scipy.io

    assert npred.detect_format(data_root / UTD_CLIP) == "utd_mhad"
    penn = data_root / "penn_action/labels/0001.mat"
    assert npred.detect_format(penn) == "penn_action"
    clip = npred.read_clip(penn)
    assert clip.sequence.shape[0] == 2 and clip.sequence.shape[2:] == (13, 1)
    assert clip.layout.name == "penn_action_13" and clip.format == "penn_action"
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"x": np.zeros((2, 13))})
    with pytest.raises(DataError, match="matches no clip format"):
        npred.detect_format(other)


def test_run_folders_without_trained_weights(tmp_path, data_root):
    classes = ["a person waves", "a person sits down"]
    clip = data_root / UTD_CLIP
    with pytest.raises(npred.RunFolderError, match="not a run folder"):
        npred.predict(tmp_path, clip, classes)
    run = _smoke_manifest(tmp_path)
    with pytest.raises(npred.RunFolderError, match="no trained neuron weights.*no trained weights"):
        npred.predict(run, clip, classes)
    with pytest.raises(npred.RunFolderError, match="no trained baseline weights"):
        npred.predict(run, clip, classes, method="baseline")
    torch_save({"model": {}, "epoch": 1, "history": []}, run / "neuron.ckpt")
    with pytest.raises(npred.RunFolderError, match=r"neuron training unfinished \(1 of 2 epochs\)"):
        npred.predict(run, clip, classes)
    (run / "baseline.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(npred.RunFolderError, match="unreadable baseline checkpoint"):
        npred.predict(run, clip, classes, method="baseline")
    torch_save({"model": {}, "epoch": 2, "history": []}, run / "neuron.ckpt")
    with pytest.raises(npred.RunFolderError, match="names no trained encoder"):
        npred.predict(run, clip, classes)
    (run / "manifest.json").unlink()
    run2 = _smoke_manifest(tmp_path / "b", extra={"encoder": str(tmp_path / "encoders" / "gone0000")})
    shutil.copy(run / "neuron.ckpt", run2 / "neuron.ckpt")
    with pytest.raises(npred.RunFolderError, match="trained encoder is gone"):
        npred.predict(run2, clip, classes)
    with pytest.raises(NeuronError, match="method 'best'"):
        npred.predict(run2, clip, classes, method="best")
