"""Every committed study report re-summarises to its own ``results.json``.

The summary of a study is recomputed from the report's committed rows (``results.json`` ``runs``)
and per-sample outcomes (``outcomes.json``) with the code on this commit, into a temporary
folder, and compared with the committed ``results.json`` value by value. A change to the
statistics or the summary code that would change a committed report fails here until the
reports are re-summarised (``python -m neuron summarise params/studies/<study>.yaml`` for each
study, then ``python -m neuron index``) and committed with the change.
"""
from __future__ import annotations

import json
import math

import matplotlib
import pytest

from conftest import ROOT
from neuron.study import collect_outcomes, collect_results, summarise_study

matplotlib.use("Agg")

REPORTS = sorted(p.parent for p in (ROOT / "reports").glob("*/results.json"))


def _same(a, b, path="") -> list[str]:
    """Paths where two JSON values differ (floats equal to 1e-9 relative: the text round trip)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in one" for k in set(a) ^ set(b)]
        for k in set(a) & set(b):
            out += _same(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_there_are_committed_reports():
    assert len(REPORTS) >= 10 and (ROOT / "reports/utd_mhad_quick/results.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_report_resummarises_to_its_results_json(report, tmp_path):
    committed = json.loads((report / "results.json").read_text())
    rows = collect_results(report)
    outcomes = collect_outcomes(report)
    summarise_study(rows, tmp_path, committed["study"], outcomes=outcomes,
                    n_boot=committed["bootstrap"]["n_boot"], boot_seed=committed["bootstrap"]["seed"])
    again = json.loads((tmp_path / "results.json").read_text())
    diffs = _same(committed, again)
    assert not diffs, f"{report.name}: {len(diffs)} values differ, e.g. {diffs[:5]}"


def test_the_comparison_itself_can_fail():
    assert _same({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 + 1e-6]}) and not _same({"a": 1.0}, {"a": 1})
