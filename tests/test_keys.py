"""Cache keys and weight fingerprints (neuron.keys) of the committed runs do not change: each is
recomputed and compared with tests/golden_keys.json (tests/key_cases.py says how it was made)."""
import dataclasses
import json
from pathlib import Path

import pytest

from key_cases import GOLDEN, representative_configs, stand_ins
from neuron import keys
from neuron.config import KNOWN_METHODS, load_run_config, load_study_config, to_dict
from neuron.errors import ConfigError
from neuron.io import sha256_obj
from neuron.pipeline import expand_study


def keys_of(cfg) -> dict:
    """Every key of one run configuration, named as in the golden file."""
    c = to_dict(cfg)
    bundle, sem, feats = stand_ins(cfg)
    seen = bundle.split.seen
    twin = seen[1:]
    out = {f"stage_{s}": keys.stage_key(s, c) for s in ("data", "side_info", "encoder", "neuron")}
    ek = keys.encoder_key(cfg, bundle)
    out["encoder"] = ek
    out["encoder_checkpoint"] = keys.checkpoint_fingerprint(cfg.encoder, cfg.seed, {"key": ek})
    for kind, tcfg in (("neuron", cfg.neuron_train), ("baseline", cfg.baseline_train)):
        fp = keys.weights_fingerprint(cfg, bundle, sem, feats, kind, seen)
        out[f"{kind}_weights"] = sha256_obj(fp)
        out[f"{kind}_checkpoint"] = keys.checkpoint_fingerprint(tcfg, cfg.seed, fp)
        tfp = keys.weights_fingerprint(cfg, bundle, sem, feats, kind, twin)
        out[f"{kind}_twin_checkpoint"] = keys.checkpoint_fingerprint(tcfg, cfg.seed, tfp, steps_per_epoch=3)
    gen = dataclasses.replace(cfg, side_info=dataclasses.replace(cfg.side_info, source="generated"))
    out["side_info_generated"] = f"{gen.data.dataset}-{keys.side_info_key(gen)}"
    return out


@pytest.fixture(scope="module")
def computed():
    return [(name, keys_of(cfg)) for name, cfg in representative_configs()]


@pytest.mark.slow
def test_committed_runs_keep_their_keys(computed):
    golden = json.loads(GOLDEN.read_text())
    per_study: dict[str, list] = {}
    for name, k in computed:
        if not name.startswith("smoke"):
            per_study.setdefault(name.split("/")[0], []).append((name, k))
    # a study committed after the golden file was made has no golden keys yet: add it there
    assert set(golden["studies"]) <= set(per_study)
    changed = []
    for study, want in golden["studies"].items():
        items = per_study[study]
        # a rerun that adds runs to a study (more seeds) changes its entry: check that the former
        # runs keep their keys (digest over just them), then recompute the entry over all runs
        assert len(items) == want["runs"], f"{study}: {len(items)} runs, {want['runs']} in {GOLDEN.name}"
        for kind, digest in want.items():
            if kind != "runs" and sha256_obj([[n, k[kind]] for n, k in items])[:16] != digest:
                changed.append(f"{study}: {kind}")
    assert changed == []


@pytest.mark.slow
def test_smoke_variants_keep_their_keys(computed):
    golden = json.loads(GOLDEN.read_text())["smoke"]
    got = {name: k for name, k in computed if name.startswith("smoke")}
    assert got == golden


def test_fusion_takes_its_name_and_its_former_name_with_the_same_keys():
    smoke = Path(__file__).resolve().parent.parent / "params" / "runs" / "smoke.yaml"
    new = load_run_config(smoke, {"neuron.fusion": "mean_log_softmax"})
    old = load_run_config(smoke, {"neuron.fusion": "sum_softmax"})
    assert new.neuron.fusion == old.neuron.fusion == "mean_log_softmax"
    assert keys.stage_key("neuron", to_dict(new)) == keys.stage_key("neuron", to_dict(old))
    legacy = to_dict(old)
    legacy["neuron"]["fusion"] = "sum_softmax"  # as a manifest written before the rename holds it
    assert keys.stage_key("neuron", legacy) == keys.stage_key("neuron", to_dict(new))
    with pytest.raises(ConfigError):
        load_run_config(smoke, {"neuron.fusion": "sum_of_softmax"})


def test_late_options_are_left_out_only_at_their_former_value():
    assert keys.key_params("neuron", {"round_weights": None, "top_k": 3}, "stage") == {"top_k": 3}
    assert keys.key_params("neuron", {"round_weights": [1, 2]}, "stage") == {"round_weights": [1, 2]}
    assert keys.key_params("encoder", {"shift_grad": "exact"}, "encoder") == {}
    assert keys.key_params("encoder", {"shift_grad": "exact"}, "stage") == {"shift_grad": "exact"}
    assert keys.key_params("neuron", {"fusion": "mean_log_softmax"}, "weights") == {"fusion": "sum_softmax"}
    with pytest.raises(ValueError, match="unknown key"):
        keys.key_params("neuron", {}, "no_such_key")


ALL_METHODS = list(KNOWN_METHODS)


@pytest.mark.parametrize("peers, reference, point, methods", [
    ("peers_kinder_gator", "kinder_gator_paper", "class_names", ALL_METHODS),
    ("peers_utd_mhad", "utd_mhad_paper", None, ALL_METHODS),
    ("peers_nw_ucla", "nw_ucla", None, ALL_METHODS),
    ("peers_utd_mhad_quick", "utd_mhad_paper", None, ALL_METHODS),
    ("peers_small_data", "utd_mhad_paper", None, ALL_METHODS[:4]),
])
def test_peer_comparisons_use_the_reference_studies_encoders(peers, reference, point, methods):
    """The peer comparison studies train their heads on the same frozen features as the Neuron
    studies they stand beside: every run's data and encoder stage keys equal the reference run's
    (same split, index and seed), while the neuron stage (which trains the peers) differs."""
    root = Path(__file__).resolve().parents[1] / "params" / "studies"

    def runs(name, only=None):
        return {(s.split, s.index, s.seed): s.config for s in expand_study(load_study_config(root / f"{name}.yaml"))
                if only is None or s.point == only}

    ours, ref = runs(peers), runs(reference, point)
    assert ours and set(ours) <= set(ref), f"{peers}: runs outside {reference}"
    for run, cfg in ours.items():
        for stage in ("data", "encoder"):
            assert keys.stage_key(stage, cfg) == keys.stage_key(stage, ref[run]), (peers, run, stage)
        assert keys.stage_key("neuron", cfg) != keys.stage_key("neuron", ref[run])
        assert cfg["methods"] == methods
