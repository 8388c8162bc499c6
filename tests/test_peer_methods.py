"""The peer heads (SMIE, SA-DVAE, STAR) as methods of the neuron stage: the registry, the run keys
``methods`` / ``peers`` (validated, left out of every key at their defaults), the study table's
comparisons with Neuron and the baseline, and the smoke study with every peer."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from neuron import keys, stages
from neuron import summary as sm
from neuron.config import DEFAULT_METHODS, load_run_config, to_dict
from neuron.errors import ConfigError
from neuron.models import PEERS

from test_protocol_fixes import _bundle, _cfg, _feats, _one_thread, _sem  # noqa: F401 (autouse fixture)

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "params" / "runs" / "smoke.yaml"
ALL = ["neuron", "baseline", "smie", "sadvae", "star"]
#: short recipes so that tests train the peers in seconds
SHORT = {"smie": {"epochs": 3}, "sadvae": {"cycles": 2, "clf_steps": 20, "clf_samples": 20},
         "star": {"epochs": 2, "prompts": 4}}


def test_registry_holds_every_peer_and_a_run_trains_what_it_lists():
    assert list(stages.METHODS) == ALL and set(ALL[2:]) == set(PEERS)
    assert all(stages.METHODS[p].peer for p in PEERS) and not stages.METHODS["neuron"].peer
    default = load_run_config(SMOKE)
    assert default.methods == DEFAULT_METHODS
    assert [n for n, m in stages.METHODS.items() if m.enabled(default)] == ["neuron", "baseline"]
    cfg = load_run_config(SMOKE, {"methods": ["neuron", "star"]})
    assert [n for n, m in stages.METHODS.items() if m.enabled(cfg)] == ["neuron", "star"]
    assert stages.method_twin_steps(cfg, stages.METHODS["star"], 100) == {}


@pytest.mark.parametrize("over, words", [
    ({"methods": ["neuron", "smie", "purls"]}, ["methods", "purls"]),
    ({"methods": ["baseline", "smie"]}, ["methods", "must include neuron"]),
    ({"methods": ["neuron", "smie", "smie"]}, ["duplicate"]),
    ({"peers": {"sadvae": {"cycle": 3}}}, ["peers.sadvae", "cycle"]),
    ({"peers": {"synse": {}}}, ["peers", "synse"]),
    ({"peers": {"star": {"epochs": "many"}}}, ["peers.star.epochs"]),
])
def test_bad_methods_and_peer_settings_are_clear_config_errors(over, words):
    with pytest.raises(ConfigError) as e:
        load_run_config(SMOKE, over)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_peer_settings_name_the_models_settings_and_reach_them():
    from neuron.models import sadvae, smie, star

    cfg = load_run_config(SMOKE, {"peers": {"sadvae": {"cycles": 4}, "star": {"steps": [5, 9]}}})
    for name, mod in (("smie", smie), ("sadvae", sadvae), ("star", star)):
        assert set(to_dict(getattr(cfg.peers, name))) == set(mod.DEFAULTS), name
    assert cfg.peers.settings("sadvae") == {"cycles": 4} and cfg.peers.settings("smie") == {}
    feats = _feats()
    model = stages.METHODS["sadvae"].new(cfg, _sem(), feats, torch.device("cpu"), None)
    assert model.cfg["cycles"] == 4 and model.cfg["lr"] == sadvae.DEFAULTS["lr"]


def test_default_methods_and_peers_leave_every_key_unchanged():
    cfg = to_dict(load_run_config(SMOKE))
    before = {k: v for k, v in cfg.items() if k not in ("methods", "peers")}  # as keys saw it before
    for stage in ("data", "side_info", "encoder", "neuron"):
        assert keys.stage_key(stage, cfg) == keys.stage_key(stage, before), stage
    peers = to_dict(load_run_config(SMOKE, {"methods": ALL}))
    assert keys.stage_key("encoder", peers) == keys.stage_key("encoder", cfg)
    assert keys.stage_key("neuron", peers) != keys.stage_key("neuron", cfg)
    tuned = to_dict(load_run_config(SMOKE, {"peers": {"star": {"epochs": 3}}}))
    assert keys.stage_key("neuron", tuned) != keys.stage_key("neuron", cfg)


def test_study_table_compares_with_neuron_and_baseline_only_where_peers_ran():
    groups = {("default", m) for m in ("neuron", "baseline", "ensemble")}
    assert sm.also_compared("default", "ensemble", groups) == {}  # studies without peers: unchanged
    groups |= {("default", "star")}
    assert sm.also_compared("default", "star", groups) == {"vs_neuron": ("default", "neuron"),
                                                            "vs_baseline": ("default", "baseline")}
    assert sm.also_compared("default", "neuron", groups) == {"vs_baseline": ("default", "baseline")}


@pytest.mark.slow
def test_peers_are_fitted_scored_and_given_outcomes_by_the_neuron_stage(tmp_path):
    parts = {"star": {**SHORT["star"], "parts": [[0], [1], [2], [3], [4], [0, 4]]}}  # V = 5 here
    cfg = _cfg(methods=ALL, peers={**SHORT, **parts})
    feats = _feats()
    bundle = _bundle(feats)
    bundle.pdata.layout = SimpleNamespace(name="kinect_v1_20")
    res = stages.stage_neuron(cfg, bundle, _sem(), feats, tmp_path, torch.device("cpu"), progress=False)
    for p in PEERS:
        assert 0 <= res[p]["honest/zsl_top1"] <= 100 and "paper/gzsl_h" in res[p], p
        assert len(res[f"{p}_history"]) == {"smie": 3, "sadvae": 2, "star": 2}[p]
        assert set(res["outcomes"][p]) == {"honest", "paper"}, p
        assert (tmp_path / f"{p}_scores.pt").exists()
    # without ``parts`` STAR's body parts follow the data bundle's layout (here one of V = 13
    # joints, so the V = 5 features are refused, naming it)
    cfg = _cfg(methods=ALL, peers=SHORT)
    bundle.pdata.layout = SimpleNamespace(name="penn_action_13")
    model = stages.METHODS["star"].new(cfg, _sem(), feats, torch.device("cpu"), bundle)
    with pytest.raises(ConfigError, match="penn_action_13"):
        stages.METHODS["star"].fit(model, feats, list(range(6)), cfg, _sem(), None, None, False, {})


@pytest.mark.slow
def test_smoke_study_with_every_peer(data_root, tmp_path, monkeypatch):
    """The smoke study with ``methods: [neuron, baseline, smie, sadvae, star]`` (short peer
    recipes) through the notebooks: every peer has metrics and outcomes in metrics.json and rows
    with differences to Neuron and to the baseline in the study's results."""
    from neuron.pipeline import run_study

    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    report = run_study(ROOT / "params/studies/smoke.yaml", runs_root=tmp_path / "runs",
                       reports_root=tmp_path / "reports", progress=False,
                       overrides={"num_threads": 1, "methods": ALL, "peers": SHORT})
    m = json.loads((tmp_path / "runs/smoke/default/utd_mhad_smoke_0/seed0/metrics.json").read_text())
    res = json.loads((report / "results.json").read_text())
    for p in PEERS:
        assert 0 <= m[p]["honest/zsl_top1"] <= 100 and "paper/zsl_top1" in m[p], p
        assert set(m["outcomes"][p]) == {"honest", "paper"} and len(m["outcomes"][p]["honest"]["zsl"]) > 0, p
        recs = [r for r in res["table"] if r["method"] == p]
        assert {r["protocol"] for r in recs} == {"honest", "paper"}, p
        for r in recs:
            assert r["vs_neuron"]["reference"] == "default/neuron" and r["vs_baseline"]["reference"] == "default/baseline"
            assert len(r["vs_neuron"]["metrics"]["zsl_top1"]["diff_ci"]) == 2
        assert any(c["a"] == f"default/{p}" and c["b"] == "default/neuron" for c in res["comparisons"]), p
