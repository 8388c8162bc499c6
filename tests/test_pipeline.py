"""Study expansion, manifests, and the run-folder guard."""
import json

import pytest

from conftest import ROOT
from neuron import config
from neuron.errors import ConfigError, NeuronError
from neuron.manifest import write_manifest
from neuron.keys import stage_key
from neuron.pipeline import expand_study


def _study(tmp_path, **kw):
    path = tmp_path / "s.yaml"
    import yaml
    path.write_text(yaml.safe_dump({"name": "s", "run": "params/runs/smoke.yaml", **kw}, sort_keys=False))
    return config.load_study_config(path)


def test_grid_expansion_points_names_and_validation(tmp_path):
    st = _study(tmp_path, splits=["utd_mhad_smoke#0"], seeds=[0, 1],
                grid={"neuron.top_k": [1, 5], "neuron.logit_scale": [0.1, 0.2]})
    runs = expand_study(st)
    assert len(runs) == 2 * 2 * 2
    assert {r.point for r in runs} == {"top_k=1,logit_scale=0.1", "top_k=1,logit_scale=0.2",
                                       "top_k=5,logit_scale=0.1", "top_k=5,logit_scale=0.2"}
    r = next(r for r in runs if r.point == "top_k=5,logit_scale=0.2" and r.seed == 1)
    assert r.config["neuron"]["top_k"] == 5 and r.config["neuron"]["logit_scale"] == 0.2
    assert r.config["seed"] == 1 and str(r.rel_dir) == "top_k=5,logit_scale=0.2/utd_mhad_smoke_0/seed1"


def test_all_splits_of_a_family(tmp_path):
    st = _study(tmp_path, run="params/runs/utd_mhad_quick.yaml", splits=["utd_mhad_22_5", "utd_mhad_17_10#2"], seeds=[0])
    runs = expand_study(st)
    assert [(r.split, r.index) for r in runs] == [("utd_mhad_22_5", i) for i in range(5)] + [
        ("utd_mhad_17_10", 2)]
    with pytest.raises(ConfigError, match="index after '#'"):
        expand_study(_study(tmp_path, splits=["utd_mhad_22_5#x"]))
    with pytest.raises(ConfigError, match="has 5 splits"):
        expand_study(_study(tmp_path, run="params/runs/utd_mhad_quick.yaml", splits=["utd_mhad_22_5#5"]))


def test_select_splits_by_family_or_index(tmp_path):
    from neuron.pipeline import select_splits

    st = _study(tmp_path, run="params/runs/utd_mhad_quick.yaml", splits=["utd_mhad_22_5", "utd_mhad_17_10#2"],
                seeds=[0, 1])
    runs = expand_study(st)
    one = select_splits(runs, ["utd_mhad_22_5#3"])
    assert [(r.split, r.index, r.seed) for r in one] == [("utd_mhad_22_5", 3, 0), ("utd_mhad_22_5", 3, 1)]
    fam = select_splits(runs, ["utd_mhad_17_10", "utd_mhad_22_5#0", "utd_mhad_22_5#0"])
    assert [(r.split, r.index) for r in fam] == [("utd_mhad_22_5", 0)] * 2 + [("utd_mhad_17_10", 2)] * 2
    with pytest.raises(ConfigError, match="'utd_mhad_17_10#0' is not in the study.*utd_mhad_17_10#2"):
        select_splits(runs, ["utd_mhad_17_10#0"])
    with pytest.raises(ConfigError, match="not in the study"):
        select_splits(runs, ["nw_ucla_8_2"])


def test_invalid_point_is_rejected_before_work(tmp_path):
    st = _study(tmp_path, grid={"neuron.compress_per_round": [10, 40]})
    with pytest.raises(ConfigError, match="compress_per_round=40.*leave at least one prototype"):
        expand_study(st)
    with pytest.raises(ConfigError, match="unknown key"):
        _study(tmp_path, gird={})


def test_variants(tmp_path):
    st = _study(tmp_path, variants={"a": {}, "no_memory": {"neuron.temporal_memory": False}})
    runs = expand_study(st)
    assert [r.point for r in runs] == ["a", "no_memory"]
    assert runs[1].config["neuron"]["temporal_memory"] is False


def test_stage_keys_share_encoder_across_neuron_points(tmp_path):
    st = _study(tmp_path, grid={"neuron.top_k": [1, 5]})
    a, b = expand_study(st)
    assert stage_key("encoder", a.config) == stage_key("encoder", b.config)
    assert stage_key("neuron", a.config) != stage_key("neuron", b.config)


def test_manifest_refuses_other_parameters(tmp_path):
    cfg = config.load_run_config(ROOT / "params/runs/smoke.yaml")
    m = write_manifest(tmp_path, cfg)
    assert m["seed"] == 0 and "torch" in m["packages"] and m["git_commit"]
    assert m["torch_threads"] >= 1 and m["packages"]["allocator"] in ("tcmalloc", "system")
    other = config.load_run_config(ROOT / "params/runs/smoke.yaml", {"seed": 3})
    with pytest.raises(NeuronError, match="different parameters"):
        write_manifest(tmp_path, other)
    write_manifest(tmp_path, other, force=True)
    assert json.loads((tmp_path / "manifest.json").read_text())["seed"] == 3
    # the run's num_threads is what it runs with (setup_torch applies it after the manifest)
    one = config.load_run_config(ROOT / "params/runs/smoke.yaml", {"seed": 3, "num_threads": 1})
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert write_manifest(tmp_path, one)["torch_threads"] == 1
    finally:
        torch.set_num_threads(old)


def test_every_shipped_study_expands():
    for path in sorted((ROOT / "params/studies").glob("*.yaml")):
        assert expand_study(config.load_study_config(path)), path


def test_runtime_keys_do_not_change_run_identity(tmp_path):
    from neuron.manifest import params_diff

    cfg = config.load_run_config(ROOT / "params/runs/smoke.yaml")
    write_manifest(tmp_path, cfg)
    fast = config.load_run_config(ROOT / "params/runs/smoke.yaml", {"num_threads": 1})
    write_manifest(tmp_path, fast)  # no conflict: only the thread count differs
    a, b = config.to_dict(cfg), config.to_dict(fast)
    assert params_diff(a, b) == [] and stage_key("neuron", a) == stage_key("neuron", b)
    assert params_diff(a, {**a, "seed": 5}) == ["seed"]
