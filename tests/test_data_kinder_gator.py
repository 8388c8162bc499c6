"""Kinder-Gator: the reader on the real files and on CSVs written here in the official format,
the cross-subject / cross-age protocols, the committed split files and the README's table."""
import importlib.util
import re

import numpy as np
import pytest

from conftest import ROOT, real_data_root
from neuron import config
from neuron.config import ConfigError
from neuron.data import load_processed, make_split, read_raw, train_mask
from neuron.data.base import SkeletonDataset
from neuron.data.cache import spec_key_dict
from neuron.data.kinder_gator import read_kg_file, read_kinder_gator
from neuron.data.layouts import KINECT_V1_20
from neuron.errors import DataError
from neuron.io import sha256_obj
from neuron.pipeline import expand_study, stage_key

# The files' joint order (Kinect SDK), as given in the dataset's column names.
KG_JOINTS = ["HipCenter", "Spine", "ShoulderCenter", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
             "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft",
             "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight"]
ADULTS = [565, 577, 604, 976, 734, 876, 921, 888, 970, 934]
CHILDREN = [337, 595, 106, 290, 342, 474, 169, 103, 723, 644]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def kg_root():
    root = real_data_root()
    if root is None or not (root / "kinder_gator" / "Adults").is_dir():
        pytest.skip("Kinder-Gator not found under the data root (<data root>/kinder_gator/Adults; "
                    "see README, Data, Kinder-Gator)")
    return root


@pytest.fixture(scope="module")
def kg(kg_root):
    return read_raw(config.load_dataset_spec("kinder_gator"), kg_root)


# --------------------------------------------------------------------------- real files
def test_real_files(kg):
    spec = config.load_dataset_spec("kinder_gator")
    assert len(kg) == 1159 and kg.num_classes == 58 and kg.skipped == []
    counts = np.bincount(kg.labels, minlength=58)
    jump_high = spec.file_actions.index("Jump-as-high-as-you-can")
    assert counts[jump_high] == 19 and np.delete(counts, jump_high).tolist() == [20] * 57
    assert kg.missing == ["p565 Jump-as-high-as-you-can"] == spec.known_missing
    assert sorted(set(kg.subjects.tolist())) == sorted(ADULTS + CHILDREN)
    groups = dict(zip(kg.subjects.tolist(), kg.groups))
    assert sorted(s for s, g in groups.items() if g == "adult") == sorted(ADULTS)
    assert sorted(s for s, g in groups.items() if g == "child") == sorted(CHILDREN)
    assert spec.subject_groups == {"adult": ADULTS, "child": CHILDREN}
    assert all(s.shape[0] == 3 and s.shape[2:] == (20, 1) and s.dtype == np.float32 for s in kg.sequences)
    assert kg.lengths.min() == 50 and kg.lengths.max() == 525
    assert all(np.isfinite(s).all() for s in kg.sequences)
    assert set(kg.trials.tolist()) == set(range(1, 59))  # performing order
    # layout kinect_v1_20 (UTD-MHAD's order): the head is above the hip centre, in metres
    first = kg.sequences[0][:, 0, :, 0]
    assert kg.layout is KINECT_V1_20 and first[1, 0] > first[1, 3] + 0.4 and 0.5 < first[2, 3] < 5


def test_real_protocols_partition(kg_root, tmp_path):
    spec = config.load_dataset_spec("kinder_gator")
    load_processed(spec, kg_root, tmp_path)
    p = load_processed(spec, kg_root, tmp_path)  # from the cache file: groups and missing kept
    assert p.groups.count("adult") == 579 and p.groups.count("child") == 580
    assert p.missing == ["p565 Jump-as-high-as-you-can"]
    sspec = config.load_split_spec("kinder_gator_48_10")
    for name, train_ids, test_n in (("cross_subject", [565, 577, 604, 734, 876, 103, 106, 169, 290, 337], 580),
                                    ("cross_age", ADULTS, 580)):
        pspec = spec.for_protocol(name)
        z = make_split(p, pspec, sspec, 0, 0.2, 3, seed=0)
        train_side = set(p.subjects[np.concatenate([z.train, z.val])].tolist())
        assert train_side == set(train_ids) and set(p.subjects[z.test].tolist()).isdisjoint(train_ids)
        assert len(z.test) == test_n and len(z.test_unseen) == 100
        assert set(p.labels[z.test_unseen]) == set(z.unseen)


# --------------------------------------------------------------------------- written CSVs
def _write(path, subject, action, frames=6, header=None, rows=None, seed=0):
    header = header or (["Timestamp"] + [f"{j}{a}" for j in KG_JOINTS for a in "XYZ"] + ["User-ID", "Action", ""])
    if rows is None:
        rng = np.random.default_rng(seed)
        rows = []
        for t in range(frames):
            xyz = rng.normal(size=(20, 3)) * 0.3 + [0, 0, 3]
            xyz[KG_JOINTS.index("Head")] = [0.0, 0.7 + t * 0.01, 3.0]
            xyz[KG_JOINTS.index("HipCenter")] = [0.0, 0.1, 3.0]
            rows.append([f"{36794471.6 + 33 * t:.4f}"] + [f"{v:.6f}" for v in xyz.ravel()]
                        + [str(subject), action, ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(r) for r in [header] + rows) + "\n")
    return path


def _names(n=3):
    return [f"action {i}" for i in range(n)], ["Raise-your-hand", "Bow", "Throw-a-ball-"]


def test_written_files_parse_and_reorder(tmp_path):
    classes, actions = _names()
    f = _write(tmp_path / "Adults" / "POSE-p565_02-Bow-1469182402284.csv", 565, "Bow")
    _write(tmp_path / "Adults" / "POSE-p565_01-Raise-your-hand-1469182402000.csv", 565, "Raise-your-hand")
    _write(tmp_path / "Children" / "POSE-p103_07-Throw-a-ball--1455370152780.csv", 103, "Throw-a-ball-")
    _write(tmp_path / "Children" / "POSE-p103_01-Bow-1455370152000.csv", 103, "Bow")
    seq = read_kg_file(f, KINECT_V1_20)
    assert seq.shape == (3, 6, 20, 1) and seq.dtype == np.float32
    np.testing.assert_allclose(seq[:, 2, 0, 0], [0.0, 0.72, 3.0], atol=1e-6)  # head -> index 0
    np.testing.assert_allclose(seq[:, 2, 3, 0], [0.0, 0.1, 3.0], atol=1e-6)  # hip centre -> index 3
    ds = read_kinder_gator(tmp_path, classes, actions)
    assert len(ds) == 4 and ds.labels.tolist() == [0, 1, 1, 2]  # sorted by file name
    assert ds.subjects.tolist() == [565, 565, 103, 103] and ds.groups == ["adult", "adult", "child", "child"]
    assert ds.trials.tolist() == [1, 2, 1, 7]
    assert ds.missing == ["p103 Raise-your-hand", "p565 Throw-a-ball-"]


@pytest.mark.parametrize("case, msg", [
    ("non_numeric", r"non-numeric value 'abc' in column ElbowLeftY at frame 2"),
    ("nan", r"non-finite value .* at frame 1"),
    ("empty", r"empty file"),
    ("header_only", r"no frames"),
    ("missing_column", r"missing column\(s\) \['KneeRightZ'\]"),
    ("truncated", r"frame 4 has 12 cells.*truncated"),
    ("unknown_action", r"unknown action 'Dance'"),
    ("wrong_action_column", r"column Action is 'Bow' at frame 0, but the file name says 'Raise-your-hand'"),
    ("bad_name", r"not a Kinder-Gator file name"),
])
def test_bad_file_named_and_skippable(tmp_path, case, msg):
    classes, actions = _names()
    _write(tmp_path / "Adults" / "POSE-p565_01-Bow-1469182402284.csv", 565, "Bow")
    name = "POSE-p565_02-Raise-your-hand-1469182402999.csv"
    bad = tmp_path / "Adults" / name
    good = _write(bad, 565, "Raise-your-hand")
    lines = good.read_text().splitlines()
    if case == "non_numeric":
        cells = lines[3].split(",")
        cells[1 + 3 * KG_JOINTS.index("ElbowLeft") + 1] = "abc"
        lines[3] = ",".join(cells)
    elif case == "nan":
        cells = lines[2].split(",")
        cells[5] = "NaN"
        lines[2] = ",".join(cells)
    elif case == "empty":
        lines = []
    elif case == "header_only":
        lines = lines[:1]
    elif case == "missing_column":
        lines = [ln.replace("KneeRightZ", "KneeRightW") if i == 0 else ln for i, ln in enumerate(lines)]
    elif case == "truncated":
        lines[5] = ",".join(lines[5].split(",")[:12])
    elif case == "unknown_action":
        bad.unlink()
        name = "POSE-p565_02-Dance-1469182402999.csv"
        bad = _write(tmp_path / "Adults" / name, 565, "Dance")
        lines = bad.read_text().splitlines()
    elif case == "wrong_action_column":
        lines = [lines[0]] + [ln.replace("Raise-your-hand", "Bow") for ln in lines[1:]]
    elif case == "bad_name":
        bad.unlink()
        name = "POSE-565-Raise-your-hand.csv"
        bad = tmp_path / "Adults" / name
    bad.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(DataError, match=re.escape(name) + ".*" + msg):
        read_kinder_gator(tmp_path, classes, actions)
    ds = read_kinder_gator(tmp_path, classes, actions, skip_bad=True)
    assert len(ds) == 1 and [p.split("/")[-1] for p, _ in ds.skipped] == [name]


def test_duplicate_recording_and_missing_folders(tmp_path):
    classes, actions = _names()
    with pytest.raises(DataError, match="no Adults/ or Children/ folder"):
        read_kinder_gator(tmp_path, classes, actions)
    _write(tmp_path / "Adults" / "POSE-p565_01-Bow-1.csv", 565, "Bow")
    _write(tmp_path / "Adults" / "POSE-p565_09-Bow-2.csv", 565, "Bow")
    with pytest.raises(DataError, match="POSE-p565_09-Bow-2.csv: a second recording of 'Bow'"):
        read_kinder_gator(tmp_path, classes, actions)
    (tmp_path / "Adults" / "POSE-p565_09-Bow-2.csv").unlink()
    _write(tmp_path / "Children" / "POSE-p565_02-Raise-your-hand-3.csv", 565, "Raise-your-hand")
    with pytest.raises(DataError, match="subject 565 appears under both adult and child"):
        read_kinder_gator(tmp_path, classes, actions)


def test_not_downloadable_offline_says_where_to_get_and_put(tmp_path):
    spec = config.load_dataset_spec("kinder_gator")
    assert not spec.download_url
    for download in (True, False):
        with pytest.raises(DataError, match=r"no raw files in .*kinder_gator.*NEURON_DATA_ROOT.*"
                                            r"github.com/hayeesha/Kinder-Gator.*kinder_gator/Adults/POSE-"):
            load_processed(spec, tmp_path, tmp_path / "cache", download=download)
    with pytest.raises(DataError, match="kinder_gator not found.*hayeesha/Kinder-Gator"):
        read_raw(spec, tmp_path)


# --------------------------------------------------------------------------- protocols
def test_protocols_are_data():
    spec = config.load_dataset_spec("kinder_gator")
    assert spec.protocol_names() == ["cross_subject", "cross_age"]
    xs, xa = spec.for_protocol("cross_subject"), spec.for_protocol("cross_age")
    assert xs is spec and spec.for_protocol("") is spec
    assert sorted(xs.train_subjects) == sorted(sorted(ADULTS)[:5] + sorted(CHILDREN)[:5])
    assert sorted(xa.train_subjects) == sorted(ADULTS) and xa.protocol == "cross_subject"
    everyone = set(ADULTS + CHILDREN)
    for p in (xs, xa):
        test = everyone - set(p.train_subjects)
        assert len(test) == 10 and test.isdisjoint(p.train_subjects)
    assert everyone - set(xa.train_subjects) == set(CHILDREN)
    with pytest.raises(ConfigError, match="unknown protocol 'cross_view'.*cross_subject.*cross_age"):
        spec.for_protocol("cross_view")
    with pytest.raises(ConfigError, match="data.protocol.*unknown protocol 'adults'"):
        config.load_run_config(ROOT / "params/runs/kinder_gator.yaml", {"data.protocol": "adults"})
    assert config.load_run_config(ROOT / "params/runs/kinder_gator.yaml",
                                  {"data.protocol": "cross_age"}).data.protocol == "cross_age"
    # existing datasets: only their own protocol, unchanged
    utd = config.load_dataset_spec("utd_mhad")
    assert utd.protocol_names() == ["cross_subject"] and utd.for_protocol("cross_subject") is utd


def test_protocol_spec_validation(tmp_path):
    base = config.to_dict(config.load_dataset_spec("kinder_gator"))
    bad = [({"protocols": {"x": {"train_subjects": [565], "train_views": [1]}}}, "exactly one"),
           ({"protocols": {"x": {"train_subjects": [1]}}}, r"train subjects \[1\] are in no subject group"),
           ({"protocols": {"x": {"train_subjects": ADULTS + CHILDREN}}}, "no test subject"),
           ({"protocols": {"cross_subject": {"train_subjects": [565]}}}, "dataset's own protocol"),
           ({"file_actions": base["file_actions"][:-1]}, "file_actions has 57 entries"),
           ({"near_duplicates": [[0, 58]]}, r"near_duplicates\[0\]"),
           ({"subject_groups": {"a": [1], "b": [1]}}, "more than one group")]
    for change, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            config.from_dict(config.DatasetSpec, {**base, **change}, "kg")


def test_validation_carved_from_training_subjects_only():
    spec = config.load_dataset_spec("kinder_gator")
    subjects = np.repeat(sorted(ADULTS + CHILDREN), 58)
    labels = np.tile(np.arange(58), 20)
    ds = SkeletonDataset("kinder_gator", [np.zeros((3, 4, 20, 1), np.float32)] * len(labels), labels,
                         subjects, np.zeros(len(labels)), np.zeros(len(labels)),
                         [str(i) for i in range(len(labels))], spec.class_names, KINECT_V1_20)
    sspec = config.load_split_spec("kinder_gator_53_5")
    for name in spec.protocol_names():
        pspec = spec.for_protocol(name)
        z = make_split(ds, pspec, sspec, 1, 0.2, 3, seed=0)
        assert set(subjects[z.val]) <= set(pspec.train_subjects)
        assert set(subjects[z.train]) <= set(pspec.train_subjects)
        assert set(subjects[z.test]).isdisjoint(pspec.train_subjects)
        assert train_mask(ds, pspec).sum() == 580


def test_existing_keys_unchanged():
    """Optional spec fields and an empty data.protocol leave cache and stage keys as before."""
    utd = config.load_dataset_spec("utd_mhad")
    old = {k: v for k, v in config.to_dict(utd).items()
           if k not in ("protocols", "subject_groups", "file_actions", "known_missing", "near_duplicates")}
    assert spec_key_dict(utd) == old
    assert "file_actions" in spec_key_dict(config.load_dataset_spec("kinder_gator"))
    cfg = config.to_dict(config.load_run_config(ROOT / "params/runs/utd_mhad_quick.yaml"))
    assert cfg["data"]["protocol"] == ""
    legacy = {**cfg, "data": {k: v for k, v in cfg["data"].items() if k != "protocol"}}
    for stage in ("data", "encoder", "neuron"):
        assert stage_key(stage, cfg) == stage_key(stage, legacy)
    crossage = {**cfg, "data": {**cfg["data"], "protocol": "cross_age"}}
    assert stage_key("data", crossage) != stage_key("data", cfg)
    assert sha256_obj(old)  # hashable as before


# --------------------------------------------------------------------------- splits and studies
@pytest.mark.parametrize("name, n_unseen", [("kinder_gator_48_10", 10), ("kinder_gator_53_5", 5),
                                            ("utd_mhad_22_5", 5), ("utd_mhad_17_10", 10)])
def test_split_families(name, n_unseen):
    sp = config.load_split_spec(name)
    n = len(config.load_dataset_spec(sp.dataset).class_names)
    assert len(sp.unseen) >= 5 and all(len(u) == n_unseen for u in sp.unseen)
    assert len({tuple(sorted(u)) for u in sp.unseen}) == len(sp.unseen)  # no duplicate sets
    assert all(0 <= c < n for u in sp.unseen for c in u)
    assert n - n_unseen == int(name.split("_")[-2])
    # reproducible from the recorded seed and command
    m = re.search(r"seed (\d+): python scripts/draw_splits.py", sp.source)
    assert m, sp.source
    keep = {"utd_mhad_22_5": [[0, 4, 11, 15, 22], [2, 14, 15, 18, 19], [5, 13, 17, 20, 21]],
            "utd_mhad_17_10": [[0, 2, 3, 7, 11, 17, 18, 20, 22, 24], [0, 1, 2, 6, 7, 8, 11, 14, 23, 26],
                               [0, 1, 2, 5, 8, 10, 13, 16, 18, 19]]}.get(name, [])
    assert sp.unseen[:len(keep)] == keep  # UTD-MHAD's first three unchanged
    assert _load("draw_splits").draw(n, n_unseen, len(sp.unseen), int(m.group(1)), keep) == sp.unseen


def test_studies_expand():
    paper = expand_study(config.load_study_config(ROOT / "params/studies/kinder_gator_paper.yaml"))
    # two side-information variants (class names, generated descriptions) x 10 splits x 3 seeds
    assert len(paper) == 60 and {r.config["data"]["protocol"] for r in paper} == {"cross_subject"}
    assert {r.point for r in paper} == {"class_names", "llm"}
    assert {(r.split, r.index) for r in paper} == {(s, i) for s in ("kinder_gator_48_10", "kinder_gator_53_5")
                                                   for i in range(5)}
    chosen = expand_study(config.load_study_config(ROOT / "params/studies/kinder_gator_chosen.yaml"))
    # the variant chosen on UTD-MHAD validation: same runs as the class-name point but class-mean targets
    assert len(chosen) == 30 and {r.point for r in chosen} == {"class_mean"}
    assert {(r.split, r.index, r.seed) for r in chosen} == {(r.split, r.index, r.seed) for r in paper}
    for c in chosen:
        assert c.config["neuron"]["alignment"] == "class_mean"
        assert c.config["side_info"]["source"] == "class_names"
        assert c.config["data"]["protocol"] == "cross_subject"
    age = expand_study(config.load_study_config(ROOT / "params/studies/kinder_gator_cross_age.yaml"))
    assert len(age) == 10 and {r.config["data"]["protocol"] for r in age} == {"cross_age"}
    utd = expand_study(config.load_study_config(ROOT / "params/studies/utd_mhad_paper.yaml"))
    assert sorted({(r.split, r.index) for r in utd}) == [(s, i) for s in ("utd_mhad_17_10", "utd_mhad_22_5")
                                                        for i in range(5)]
    assert len(utd) == 30


def test_docs_near_duplicate_table_is_current():
    table = _load("near_duplicates").table("kinder_gator", ["kinder_gator_48_10", "kinder_gator_53_5"])
    assert table in (ROOT / "docs/data.md").read_text(encoding="utf-8")
    assert "kinder_gator_48_10#4" in table
