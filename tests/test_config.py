"""Parameter files: every shipped file validates; bad files fail before any work."""
from pathlib import Path

import pytest

from conftest import ROOT
from neuron import config
from neuron.__main__ import main
from neuron.errors import ConfigError


@pytest.mark.parametrize("path", sorted((ROOT / "params").glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_parameter_file_validates(path, capsys):
    if path.parent.name == "side_info":
        pytest.skip("side-information files are checked in test_side_info")
    assert main(["validate", str(path)]) == 0


def test_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown key.*'epoch'"):
        config.load_run_config({"encoder": {"epoch": 3}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="data.window"):
        config.load_run_config({"data": {"window": "64"}})


@pytest.mark.parametrize("override, msg", [
    ({"data": {"split_index": 7}}, "has 5 splits"),
    ({"data": {"protocol": "cross_age"}}, "unknown protocol 'cross_age' for dataset utd_mhad"),
    ({"neuron": {"rounds": 2}}, "windows has 3 entries"),
    ({"neuron": {"compress_per_round": 30}}, "leave at least one prototype"),
    ({"neuron": {"use_spatial": False, "use_temporal": False}}, "both branches"),
    ({"neuron": {"top_k": 11}}, "top_k"),
    ({"data": {"p_interval": [0.9, 0.5]}}, "p_interval"),
    ({"data": {"window": 4}}, "window"),
    ({"data": {"pseudo_unseen": 21}}, "pseudo"),
    ({"data": {"split": "nw_ucla_8_2"}}, "is for dataset nw_ucla"),
])
def test_impossible_values_rejected(override, msg):
    with pytest.raises(ConfigError, match=msg):
        config.load_run_config(override)


def test_split_with_unseen_class_out_of_range(tmp_path):
    sp = config.SplitSpec(name="x", dataset="utd_mhad", unseen=[[0, 27]])
    with pytest.raises(ConfigError, match="unseen class 27"):
        sp.check_against(27)


def test_split_duplicates_rejected():
    with pytest.raises(ConfigError, match="duplicate"):
        config.from_dict(config.SplitSpec, {"name": "x", "dataset": "utd_mhad", "unseen": [[1, 1]]})


def test_deep_update_dotted_keys():
    out = config.deep_update({"a": {"b": 1, "c": 2}}, {"a.b": 5, "d": 1})
    assert out == {"a": {"b": 5, "c": 2}, "d": 1}


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        config.read_yaml(bad)


def test_cli_run_forwards_roots_seeds_and_overrides(monkeypatch, tmp_path):
    """``python -m neuron run`` hands its options to run_study unchanged (the e2e benchmark
    relies on --runs-root/--reports-root to run the main job in a temporary folder)."""
    import neuron.pipeline

    seen = {}

    def fake_run_study(path, **kw):
        seen.update(kw, path=path)
        return tmp_path / "reports"

    monkeypatch.setattr(neuron.pipeline, "run_study", fake_run_study)
    study = ROOT / "params" / "studies" / "smoke.yaml"
    assert main(["run", str(study), "--runs-root", str(tmp_path / "r"), "--reports-root",
                 str(tmp_path / "p"), "--seeds", "1", "2", "--set", "num_threads=1",
                 "neuron.top_k=5", "--points", "neuron"]) == 0
    assert seen["runs_root"] == tmp_path / "r" and seen["reports_root"] == tmp_path / "p"
    assert seen["seeds"] == [1, 2] and seen["overrides"] == {"num_threads": 1, "neuron.top_k": 5}
    assert seen["force"] is False and seen["points"] == ["neuron"]


def test_run_study_rejects_unknown_point(tmp_path):
    from neuron.pipeline import run_study

    with pytest.raises(ConfigError, match="unknown point.*no_such.*points:"):
        run_study(ROOT / "params" / "studies" / "ablations.yaml", runs_root=tmp_path, reports_root=tmp_path,
                  points=["no_such"], progress=False)


def test_run_study_points_runs_only_those_points_and_summarises_all(monkeypatch, tmp_path):
    import neuron.pipeline as pl

    executed, summarised = [], {}

    def fake_execute(nb, run_dir, parameters, **kw):
        executed.append((Path(run_dir).relative_to(tmp_path / "ablations").parts[0], Path(nb).name))
        return run_dir

    def fake_summarise(study, runs_root, reports, runs, seconds=None):
        summarised["runs"] = [r.point for r in runs]
        return reports

    monkeypatch.setattr(pl, "execute_notebook", fake_execute)
    monkeypatch.setattr(pl, "summarise", fake_summarise)
    pl.run_study(ROOT / "params" / "studies" / "ablations.yaml", runs_root=tmp_path,
                 reports_root=tmp_path / "rep", points=["no_compression"], seeds=[0], progress=False)
    assert {p for p, _ in executed} == {"no_compression"}
    assert [nb for _, nb in executed] == ["01_data.ipynb", "02_side_info.ipynb", "03_encoder.ipynb",
                                          "04_neuron.ipynb"]
    assert "neuron" in summarised["runs"] and "no_compression" in summarised["runs"]
