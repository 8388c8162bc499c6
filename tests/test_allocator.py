"""The notebook kernels' allocator (neuron.allocator): NEURON_ALLOCATOR is validated, tcmalloc
is preloaded into processes started inside ``kernel_allocator`` only, and the kernels that
papermill starts for a stage really run with it."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from neuron import allocator

TCMALLOC = allocator.find_tcmalloc()
needs_tcmalloc = pytest.mark.skipif(TCMALLOC is None, reason="libtcmalloc-minimal4 not installed")
MAPS = "import pathlib; print('libtcmalloc' in pathlib.Path('/proc/self/maps').read_text())"


def _child_has_tcmalloc() -> bool:
    out = subprocess.run([sys.executable, "-c", MAPS], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_unknown_allocator_is_an_error(monkeypatch):
    monkeypatch.setenv("NEURON_ALLOCATOR", "jemalloc")
    with pytest.raises(ValueError, match="NEURON_ALLOCATOR='jemalloc'"):
        allocator.allocator_name()
    monkeypatch.setenv("NEURON_ALLOCATOR", "System")
    assert allocator.allocator_name() == "system"


def test_system_allocator_preloads_nothing(monkeypatch):
    monkeypatch.setenv("NEURON_ALLOCATOR", "system")
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    with allocator.kernel_allocator() as name:
        assert name == "system" and "LD_PRELOAD" not in os.environ
        assert not _child_has_tcmalloc()


def test_missing_tcmalloc_warns_and_falls_back(monkeypatch):
    monkeypatch.delenv("NEURON_ALLOCATOR", raising=False)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    monkeypatch.setattr(allocator, "_warned", False)
    with pytest.warns(RuntimeWarning, match="libtcmalloc-minimal4"):
        with allocator.kernel_allocator() as name:
            assert name == "system" and "LD_PRELOAD" not in os.environ


@needs_tcmalloc
def test_tcmalloc_reaches_children_inside_the_block_only(monkeypatch):
    monkeypatch.delenv("NEURON_ALLOCATOR", raising=False)
    monkeypatch.setenv("LD_PRELOAD", "")
    monkeypatch.delenv("LD_PRELOAD")
    with allocator.kernel_allocator() as name:
        assert name == "tcmalloc" and os.environ["LD_PRELOAD"] == TCMALLOC
        assert _child_has_tcmalloc()
    assert "LD_PRELOAD" not in os.environ and not _child_has_tcmalloc()


@pytest.mark.slow  # another process
@needs_tcmalloc
def test_stage_kernels_run_with_tcmalloc(tmp_path, monkeypatch):
    from neuron.pipeline import execute_notebook

    monkeypatch.delenv("NEURON_ALLOCATOR", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(MAPS + "\nfrom neuron.allocator import current_allocator\n"
                                          "print(current_allocator())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "probe.ipynb"
    nbformat.write(nb, src)
    out = execute_notebook(src, tmp_path / "out", {"x": 1}, progress=False)
    text = "".join(o.get("text", "") for o in nbformat.read(out, 4).cells[-1].outputs)
    assert text.split() == ["True", "tcmalloc"], text
    assert TCMALLOC not in os.environ.get("LD_PRELOAD", "")  # the parent's environment is restored


def _bench(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """``benchmarks/run.py`` in a child process; ``--ab`` against a revision that does not exist
    returns right after choosing the allocator (exit 1), which is all these tests need."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "NEURON_BENCH_REEXEC")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(root / "benchmarks" / "run.py"), *args, "--ab", "--ref",
                           "no-such-revision"], capture_output=True, text=True, env=env, timeout=300)


@needs_tcmalloc
def test_benchmark_runs_under_the_kernels_allocator():
    """The benchmark re-executes itself so that it measures with the allocator the training
    kernels get (tcmalloc when installed), and ``--allocator system`` switches back."""
    out = _bench()
    assert "allocator of this process: tcmalloc" in out.stdout, out.stdout + out.stderr
    out = _bench("--allocator", "system", env_extra={"LD_PRELOAD": TCMALLOC})
    assert "allocator of this process: system" in out.stdout, out.stdout + out.stderr
    out = _bench(env_extra={"NEURON_ALLOCATOR": "system"})
    assert "allocator of this process: system" in out.stdout, out.stdout + out.stderr


def test_benchmark_without_tcmalloc_says_what_to_install(monkeypatch):
    from benchmarks import allocators as mod

    monkeypatch.setattr(allocator, "find_tcmalloc", lambda: None)
    with pytest.raises(SystemExit, match="libtcmalloc-minimal4"):
        mod.ensure_allocator("tcmalloc", [])
    # auto without the library: the system allocator, no re-execution (only checked when this
    # process runs it; otherwise the call would re-execute the test process)
    if allocator.current_allocator() == "system":
        assert mod.ensure_allocator("auto", []) == "system"


def test_preload_env_replaces_tcmalloc_only():
    env = {"LD_PRELOAD": "x/libtcmalloc_minimal.so.4 y/libother.so", "A": "1"}
    assert allocator.preload_env(env, None) == {"LD_PRELOAD": "y/libother.so", "A": "1"}
    assert allocator.preload_env(env, "z/libtcmalloc_minimal.so.4")["LD_PRELOAD"] == \
        "z/libtcmalloc_minimal.so.4 y/libother.so"
    assert "LD_PRELOAD" not in allocator.preload_env({"LD_PRELOAD": "x/libtcmalloc.so"}, None)
    assert env["LD_PRELOAD"].startswith("x/")  # the input is not modified
