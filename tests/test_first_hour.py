"""A new user's first hour: one data-root rule, commands as written, quiet and informative runs."""
import os
import subprocess
from pathlib import Path

import pytest

from neuron import config

ROOT = Path(__file__).resolve().parent.parent


def test_data_root_rule(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setattr(config, "PROJECT_ROOT", project)
    monkeypatch.delenv("NEURON_DATA_ROOT", raising=False)
    assert config.data_root() == project / "data"  # nothing else: ./data beside the project
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert config.data_root() == tmp_path / "shared" / "data"  # ../shared/data when it exists
    monkeypatch.setenv("NEURON_DATA_ROOT", str(tmp_path / "env"))
    assert config.data_root() == tmp_path / "env"  # the environment wins
    assert config.data_root(str(tmp_path / "run")) == tmp_path / "run"  # the run's key wins over all


def test_scripts_use_the_python_rule(tmp_path):
    """scripts/activate.sh asks neuron.config.data_root (no rule of its own)."""
    text = (ROOT / "scripts" / "activate.sh").read_text()
    assert "data_root" in text and "../shared/data" not in text
    lab = (ROOT / "scripts" / "lab.sh").read_text()
    assert "$PWD/data" not in lab
    env = {**os.environ, "NEURON_DATA_ROOT": ""}
    out = subprocess.run(["bash", "-c", ". scripts/data_root.sh && echo \"$NEURON_DATA_ROOT\""],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    env.pop("NEURON_DATA_ROOT")
    want = subprocess.run(["python", "-c", "from neuron.config import data_root; print(data_root())"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == want


# ---------------------------------------------------------------- python -m neuron run / main.sh

import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402

import yaml  # noqa: E402

from neuron import __main__ as cli  # noqa: E402
from neuron import kernel, pipeline  # noqa: E402
from neuron.errors import SideInfoError  # noqa: E402


def _fake_project(tmp_path):
    """A copy of scripts/main.sh whose activate.sh is a stub and whose `python` echoes its args."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "main.sh", tmp_path / "scripts" / "main.sh")
    (tmp_path / "scripts" / "activate.sh").write_text('python() { echo "python $*"; }\n')
    return tmp_path


@pytest.mark.parametrize("args, want", [
    ([], "python -m neuron run"),
    (["--force"], "python -m neuron run --force"),
    (["--set", "num_threads=1"], "python -m neuron run --set num_threads=1"),
    (["params/studies/smoke.yaml", "--force"], "python -m neuron run params/studies/smoke.yaml --force"),
])
def test_main_sh_passes_every_option(tmp_path, args, want):
    proj = _fake_project(tmp_path)
    text = (proj / "scripts" / "main.sh").read_text().replace("exec python", "python")
    (proj / "scripts" / "main.sh").write_text(text)
    out = subprocess.run(["bash", "scripts/main.sh", *args], cwd=proj, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == want


def _capture_run_study(monkeypatch):
    seen = {}

    def fake(path, **kw):
        seen.update(kw, path=path, cache=os.environ.get("NEURON_CACHE"))
        return ROOT / "reports" / "utd_mhad_quick"

    monkeypatch.setattr(pipeline, "run_study", fake)
    return seen


def test_options_without_a_study_apply_to_the_default_study(monkeypatch, capsys):
    seen = _capture_run_study(monkeypatch)
    assert cli.main(["run", "--force", "--set", "num_threads=1"]) == 0
    assert Path(seen["path"]).resolve() == ROOT / "params" / "studies" / "utd_mhad_quick.yaml"
    assert seen["force"] and seen["overrides"] == {"num_threads": 1}
    out = capsys.readouterr().out
    assert "report: " in out and "summary.html" in out and "headline" in out


def test_ctrl_c_says_how_to_resume(monkeypatch, capsys):
    def interrupted(path, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_study", interrupted)
    assert cli.main(["run", "params/studies/smoke.yaml"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted; rerun the same command to resume"  # no traceback


def test_headline_from_results_json():
    """The numbers come from the committed report of the main job (a real run): each method's
    ZSL top-1 and GZSL H, and Neuron's differences to the baseline with their intervals, as
    results.json holds them (validation-calibrated protocol only)."""
    import json

    report = ROOT / "reports" / "utd_mhad_quick"
    table = json.loads((report / "results.json").read_text())["table"]
    rec = {(r["point"], r["method"]): r for r in table if r["protocol"] == "honest"}
    lines = pipeline.outcome_lines(ROOT / "runs" / "absent", report)
    text = "\n".join(lines)
    assert lines[0].endswith("summary.html")
    assert "validation-calibrated protocol" in text
    b = rec[("default", "baseline")]
    base = next(x for x in lines if "default/baseline " in x)
    assert f"ZSL top-1 {b['zsl_top1_mean']:.1f}" in base and f"GZSL H {b['gzsl_h_mean']:.1f}" in base
    assert "(reference)" in base
    n = rec[("default", "neuron")]
    neu = next(x for x in lines if "default/neuron " in x)
    lo, hi = n["zsl_top1_diff_ci"]
    assert (f"ZSL top-1 {n['zsl_top1_mean']:.1f} ({n['zsl_top1_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] "
            f"{n['zsl_top1_verdict']})") in neu
    lo, hi = n["gzsl_h_diff_ci"]
    assert (f"GZSL H {n['gzsl_h_mean']:.1f} ({n['gzsl_h_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}] "
            f"{n['gzsl_h_verdict']})") in neu and "vs default/baseline" in neu
    assert "paper" not in text.split("headline")[1]


def test_smoke_reports_stay_out_of_committed_reports(tmp_path):
    study = config.load_study_config(ROOT / "params" / "studies" / "smoke.yaml")
    runs, reports = pipeline.study_dirs(study)
    assert reports == ROOT / "runs" / "reports" / "smoke" and runs == ROOT / "runs" / "smoke"
    main = config.load_study_config(ROOT / "params" / "studies" / "utd_mhad_quick.yaml")
    assert pipeline.study_dirs(main)[1] == ROOT / "reports" / "utd_mhad_quick"
    assert pipeline.study_dirs(study, tmp_path / "r", tmp_path / "p") == (
        tmp_path / "r" / "smoke", tmp_path / "p" / "smoke")
    paths = ["runs/reports/smoke/summary.html", "notebooks/.ipynb_checkpoints/01_data-checkpoint.ipynb"]
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == paths


def test_runs_root_moves_the_cache(tmp_path, monkeypatch):
    seen = {}

    def fake(*a, **kw):
        seen["cache"] = os.environ.get("NEURON_CACHE")
        return tmp_path

    monkeypatch.setattr(pipeline, "_run_study", fake)
    monkeypatch.delenv("NEURON_CACHE", raising=False)
    pipeline.run_study(ROOT / "params" / "studies" / "smoke.yaml", runs_root=tmp_path / "elsewhere")
    assert seen["cache"] == str(tmp_path / "elsewhere" / ".cache")
    assert "NEURON_CACHE" not in os.environ  # restored
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "mine"))
    pipeline.run_study(ROOT / "params" / "studies" / "smoke.yaml", runs_root=tmp_path / "elsewhere")
    assert seen["cache"] == str(tmp_path / "mine")  # an explicit cache wins


def test_side_info_missing_a_class_fails_before_any_stage(tmp_path, monkeypatch):
    folder = tmp_path / "side_info"
    shutil.copytree(ROOT / "params" / "side_info" / "utd_mhad", folder)
    level = json.loads((folder / "temporal_sp.json").read_text())
    dropped = next(iter(level))
    del level[dropped]
    (folder / "temporal_sp.json").write_text(json.dumps(level))
    study = tmp_path / "s.yaml"
    study.write_text(yaml.safe_dump({"name": "s", "run": "params/runs/smoke.yaml",
                                     "overrides": {"side_info.source": str(folder)}}))

    def no_work(*a, **kw):
        raise AssertionError("a stage ran before the side information was checked")

    monkeypatch.setattr(pipeline, "execute_notebook", no_work)
    with pytest.raises(SideInfoError, match=f"class {dropped!r} missing from level temporal_sp"):
        pipeline.run_study(study, runs_root=tmp_path / "runs", reports_root=tmp_path / "rep")
    assert not (tmp_path / "runs").exists()
    # the shipped side information of every shipped study passes
    for path in sorted((ROOT / "params" / "studies").glob("*.yaml")):
        pipeline.check_side_info(pipeline.expand_study(config.load_study_config(path)))


# ---------------------------------------------------------------- kernels

def test_kernel_noise_is_dropped_and_the_rest_kept():
    src = io.BytesIO(b"[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All...\n"
                     b"Traceback (most recent call last): real trouble\n"
                     b"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"
                     b"Segmentation fault\n")
    out = io.StringIO()
    kernel.forward_filtered(src, out)
    assert out.getvalue() == "Traceback (most recent call last): real trouble\nSegmentation fault\n"


def _notebook(path, *cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_stage_kernel_is_quiet_streams_output_and_reports_progress(tmp_path, capfd, monkeypatch):
    """A real kernel: no TCP warning or KeyboardInterrupt line, --log-output streams the cells'
    output, the progress channel reaches the runner, a failing cell is still reported."""
    logger = pipeline.logging.getLogger("papermill")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.setattr(logger, "level", logger.level)
    nb = _notebook(tmp_path / "ok.ipynb", "n = 3",
                   "from neuron import progress\nfor _ in progress.track(range(n), 'texts'): pass\n"
                   "print('hello from the kernel')")
    pipeline.execute_notebook(nb, tmp_path / "out", {"n": 3}, progress=False, log_output=True,
                              stage_progress=True)
    err = capfd.readouterr().err
    assert "hello from the kernel" in err  # streamed by --log-output
    assert "texts" in err  # the stage's progress bar
    assert "without encryption" not in err and not (tmp_path / "out" / ".progress.jsonl").exists()
    bad = _notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('a real error')")
    with pytest.raises(pipeline.NeuronError, match="ValueError: a real error"):
        pipeline.execute_notebook(bad, tmp_path / "out", {}, progress=False)
    err = capfd.readouterr().err
    assert "KeyboardInterrupt caught" not in err and "without encryption" not in err
