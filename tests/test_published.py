"""params/published.yaml: every published number names its method, split protocol and a source
that exists, lies in 0-100, and is listed in docs/published.md; the Neuron rows equal
neuron.study.PAPER_REPORTED."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from neuron.study import PAPER_REPORTED

ROOT = Path(__file__).resolve().parents[1]
DATA = yaml.safe_load((ROOT / "params" / "published.yaml").read_text())
DOC = (ROOT / "docs" / "published.md").read_text()
METRICS = {"zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h"}
DATASETS = {"ntu60": 60, "ntu120": 120, "pku_mmd1": 51}


def test_protocols_fit_their_dataset():
    for key, p in DATA["protocols"].items():
        assert p["dataset"] in DATASETS, key
        assert p["seen"] + p["unseen"] == DATASETS[p["dataset"]], key
        assert p["kind"] in {"fixed", "random"} and p["description"], key


def test_sources_have_address_and_kind():
    for key, s in DATA["sources"].items():
        assert s["url"] and s["what"], key
        assert s["kind"] in {"paper", "readme", "leaderboard", "project_record"}, key


@pytest.mark.parametrize("entry", DATA["entries"], ids=lambda e: f"{e['method']}-{e['protocol']}-{e['metric']}-{e['source']}")
def test_entry_is_sourced_and_in_range(entry):
    assert entry["method"] in DATA["methods"]
    assert entry["protocol"] in DATA["protocols"]
    assert entry["source"] in DATA["sources"]
    assert entry["metric"] in METRICS
    assert isinstance(entry["value"], (int, float)) and 0 <= entry["value"] <= 100


def test_no_duplicate_cells_per_source():
    keys = [(e["method"], e["protocol"], e["metric"], e["source"]) for e in DATA["entries"]]
    assert len(keys) == len(set(keys))


def test_every_number_is_in_the_doc():
    for e in DATA["entries"]:
        assert f"{e['value']:g}" in DOC, e


def test_neuron_rows_match_paper_reported():
    rows = {(e["protocol"], e["metric"]): e["value"] for e in DATA["entries"] if e["method"] == "Neuron"}
    for split, rep in PAPER_REPORTED.items():
        protocol = "synse_" + split.split("_", 1)[1]
        for metric, value in rep.items():
            assert rows[(protocol, metric)] == value, (split, metric)
