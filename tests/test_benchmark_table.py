"""The benchmark table (benchmarks.table, benchmarks.e2e): the committed results print as the
table stored with them, so the modules format what the measuring run printed."""
from __future__ import annotations

import json

import pytest

from benchmarks.table import fmt_table
from conftest import ROOT


@pytest.mark.parametrize("name", ["results.json", "results-e2e.json"])
def test_committed_results_print_their_stored_table(name):
    res = json.loads((ROOT / "benchmarks" / name).read_text())
    assert fmt_table(res) == res["table"]


def test_e2e_only_results_print_one_line():
    res = json.loads((ROOT / "benchmarks" / "results-e2e.json").read_text())
    line = fmt_table(res)
    assert "\n" not in line and line.startswith("Neuron end-to-end benchmark")
    assert f"rc {res['e2e']['returncode']}" in line
