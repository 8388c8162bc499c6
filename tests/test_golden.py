"""Golden numbers: the smoke run's metrics (every method, both protocols) pinned in
``tests/golden/smoke_metrics.json`` (made by ``python scripts/refresh_golden.py --metrics``), so a
silent change of accuracy fails.

Exact at one thread when the numerics recorded with them (torch, oneDNN, CPU instruction set,
precision: :func:`neuron.manifest.numerics`) are today's; elsewhere every metric within the
file's ``tolerance_points`` (a few of the smoke run's 32 unseen / 128 test samples flipping)."""
import json
import math

import pytest

from conftest import ROOT
from neuron.manifest import numerics

GOLDEN = json.loads((ROOT / "tests" / "golden" / "smoke_metrics.json").read_text())
SAME_FIELDS = ("torch", "onednn", "onednn_enabled", "cpu_capability", "precision", "isa_env")


def same_numerics() -> bool:
    now = numerics(1, "fp32")
    return all(now[k] == GOLDEN["numerics"][k] for k in SAME_FIELDS)


def check_rows(rows: dict, exact: bool) -> None:
    """``rows`` (method -> metrics) against the pinned ones: same methods and metrics, values
    equal (``exact``) or within the tolerance."""
    want = GOLDEN["rows"]
    assert set(rows) == set(want)
    for method, metrics in want.items():
        got = rows[method]
        assert set(got) == set(metrics), method
        for k, v in metrics.items():
            if isinstance(v, float) and math.isnan(v):
                assert math.isnan(got[k]), (method, k)
            elif exact:
                assert got[k] == v, (method, k, got[k], v)
            elif k.startswith(("honest/", "paper/", "val/")) and "gamma" not in k:
                assert abs(got[k] - v) <= GOLDEN["tolerance_points"], (method, k, got[k], v)


def test_golden_file_covers_both_protocols_of_every_method():
    for method in ("neuron", "baseline", "neuron_allrounds", "ensemble", "ensemble_allrounds"):
        row = GOLDEN["rows"][method]
        assert {"honest/zsl_top1", "honest/gzsl_h", "paper/zsl_top1", "paper/gzsl_h"} <= set(row)
        assert all(0 <= row[k] <= 100 for k in ("honest/zsl_top1", "paper/zsl_top1"))
    assert GOLDEN["numerics"]["threads"] == 1 and GOLDEN["numerics"]["precision"] == "fp32"


def test_check_rows_catches_a_changed_number():
    rows = json.loads(json.dumps(GOLDEN["rows"]))
    check_rows(rows, exact=True)
    rows["neuron"]["honest/zsl_top1"] += 3.125  # one of 32 unseen samples
    with pytest.raises(AssertionError):
        check_rows(rows, exact=True)
    check_rows(rows, exact=False)
    rows["neuron"]["honest/zsl_top1"] += 20.0
    with pytest.raises(AssertionError):
        check_rows(rows, exact=False)


@pytest.mark.slow
def test_smoke_run_matches_the_pinned_metrics(smoke_study):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from refresh_golden import smoke_rows

    runs_root, _ = smoke_study
    check_rows(smoke_rows(runs_root), exact=same_numerics())
