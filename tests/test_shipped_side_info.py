"""The side information shipped in params/side_info/: complete, valid, and truthful about its origin.

The ``*_smollm2`` folders claim to be the output of this project's generator
(``scripts/generate_side_info.py``, SmolLM2-135M-Instruct): every description they hold must
appear in a reply recorded in their ``generation_log.jsonl`` for the same class and level, i.e.
nothing in them was written or edited by hand.
"""
from __future__ import annotations

import json

import pytest

from conftest import ROOT
from neuron.config import load_dataset_spec
from neuron.io import read_jsonl
from neuron.side_info import LEVELS, load_side_info
from neuron.side_info.generate import log_path

SIDE = ROOT / "params" / "side_info"
FOLDERS = [("utd_mhad", "utd_mhad"), ("nw_ucla", "nw_ucla"),
           ("utd_mhad_smollm2", "utd_mhad"), ("nw_ucla_smollm2", "nw_ucla"),
           ("utd_mhad_smollm2_llamacpp", "utd_mhad")]


@pytest.mark.parametrize("folder,dataset", FOLDERS)
def test_shipped_side_info_is_complete_and_valid(folder, dataset):
    names = load_dataset_spec(dataset).class_names
    info = load_side_info(SIDE / folder, names, k=10)  # raises naming class/level/file
    assert set(info) == set(LEVELS)
    for level in LEVELS:
        assert list(info[level]) == names
        assert all(len(v) == 10 for v in info[level].values())


@pytest.mark.parametrize("folder", ["utd_mhad_smollm2", "nw_ucla_smollm2", "kinder_gator_smollm2",
                                    "utd_mhad_smollm2_llamacpp"])
def test_generated_side_info_matches_its_generation_log(folder):
    log = read_jsonl(log_path(SIDE / folder))
    replies: dict[tuple[str, str], str] = {}
    for r in log:
        if r.get("type") == "call":
            text = "\n".join((r.get("assistant_prefix") or "") + x for x in r["replies"])
            key = (r["class"], r["level"])
            replies[key] = replies.get(key, "") + "\n" + text
    items = [r for r in log if r.get("type") == "item"]
    assert items and all("SmolLM2" in r["model_id"] for r in items)
    checked = 0
    for level in LEVELS:
        data = json.loads((SIDE / folder / f"{level}.json").read_text(encoding="utf-8"))
        for cls, descs in data.items():
            pool = replies.get((cls, level), "")
            for d in descs:
                assert d in pool or json.dumps(d)[1:-1] in pool, \
                    f"{folder}/{level}.json, class {cls!r}: {d!r} is in no logged reply"
                checked += 1
    assert checked > 0


@pytest.mark.parametrize("folder,dataset", [("kinder_gator_smollm2", "kinder_gator"),
                                            ("utd_mhad_smollm2_llamacpp", "utd_mhad")])
def test_llamacpp_side_info_is_complete_and_valid(folder, dataset):
    """The llama.cpp-backend sets cover every class of their dataset in class order, made on one
    thread; every class is valid and was finished according to its log."""
    folder = SIDE / folder
    log = read_jsonl(log_path(folder))
    done = {(r["class"], r["dialogue"]) for r in log if r.get("type") == "item"}
    assert done and all(r["backend"] == "LlamaCppChatBackend" and r["decoding"]["threads"] == 1
                        for r in log if r.get("type") == "item")
    spec = ROOT / "params" / "datasets" / f"{dataset}.yaml"
    all_names = load_dataset_spec(dataset).class_names if spec.exists() else None
    for level in LEVELS:
        names = list(json.loads((folder / f"{level}.json").read_text(encoding="utf-8")))
        dialogue = "spatial" if level.startswith("spatial") else "temporal"
        assert names and all((c, dialogue) in done for c in names), level
        if all_names is not None:
            assert names == all_names, f"{level}: missing, unknown or misordered classes"
        load_side_info(folder, names, k=10, levels=[level])   # raises naming class/level/file


@pytest.mark.parametrize("folder,dataset", FOLDERS[:2])
def test_provenance_names_the_author(folder, dataset):
    prov = json.loads((SIDE / folder / "provenance.json").read_text())
    assert prov["dataset"] == dataset and prov["k"] == 10
    assert prov["classes"] == len(load_dataset_spec(dataset).class_names)
    assert "NOT produced by a run" in prov["how"]
