"""JupyterLab in a real browser: start it on a free localhost port, open notebooks in headless
Chromium (Debian's ``chromium``, driven by Playwright; no downloaded browser builds), Run All
Cells from the Run menu, and check that outputs appear and no cell wrote to stderr (errors,
warnings, progress noise). Screenshots go to runs/test-artifacts/.

Skips where Chromium or Playwright is absent (scripts/setup_env.sh installs both where it can).
The notebooks are served from a temporary copy, so JupyterLab never saves into notebooks/.
"""
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "runs" / "test-artifacts"
#: the notebook in the active tab (earlier notebooks stay in the DOM, hidden, in their own tabs)
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium; "
                                                          "scripts/setup_env.sh does it when run as root)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, data_root):
    """A JupyterLab server on 127.0.0.1 (token, temporary runtime/config/settings dirs)."""
    tmp = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", tmp / "notebooks")
    port, token = _free_port(), secrets.token_urlsafe(24)
    tracker = tmp / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text('{"windowingMode": "none"}')  # render every cell (no virtual scrolling)
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp / "config"), "NEURON_DATA_ROOT": str(data_root),
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                             f"--ServerApp.root_dir={tmp / 'notebooks'}",
                             f"--LabApp.user_settings_dir={tmp / 'settings'}",
                             f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
                            + (["--allow-root"] if os.geteuid() == 0 else []),
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(tmp / 'lab.log').read_text()[-2000:]}")
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(tmp / 'lab.log').read_text()[-2000:]}")
        yield base, token, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (pip install playwright) missing")
    _, _, tmp = lab
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(str(tmp / "profile"), executable_path=CHROMIUM,
                                                       headless=True, args=CHROMIUM_ARGS,
                                                       viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()


def _wait_done(page, n_code):
    """Until every code cell shows an execution count ("[3]:", not "[*]:" or "[ ]:"), or a cell
    failed (Run All stops there) and nothing runs any more."""
    page.wait_for_function(
        """([n, panel]) => { const p = [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')];
                  const failed = document.querySelector(panel + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
                  return (p.length === n && p.every(e => /\\[\\d+\\]/.test(e.textContent)))
                         || (failed && !p.some(e => e.textContent.includes('*'))); }""",
        arg=[n_code, PANEL], timeout=300_000, polling=1000)


def _accept_kernel_dialog(page):
    """Run All on a loaded machine can reach the notebook before its kernel session is connected;
    JupyterLab then asks which kernel to start. Take its proposal (this environment's kernel)."""
    try:
        page.wait_for_selector(".jp-Dialog", timeout=3_000)
    except Exception:
        return
    if "Select Kernel" in page.locator(".jp-Dialog").first.inner_text():
        page.locator(".jp-Dialog .jp-mod-accept").first.click()


@pytest.mark.parametrize("name", ["01_data", "02_side_info"])
def test_notebook_runs_all_cells_in_jupyterlab(lab, browser, name):
    base, token, _ = lab
    page = browser.new_page()
    page.goto(f"{base}/lab/tree/{name}.ipynb?token={token}")
    page.wait_for_selector(f"{PANEL} .jp-CodeCell", timeout=120_000)
    n_code = sum(c.cell_type == "code" for c in nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4).cells)
    page.wait_for_function("([n, panel]) => document.querySelectorAll(panel + ' .jp-CodeCell').length === n",
                           arg=[n_code, PANEL], timeout=120_000)
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    # committed golden outputs carry execution counts: clear them so that "[1]:" means this run
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
    page.wait_for_function("panel => ![...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]"
                           ".some(e => /\\[\\d+\\]/.test(e.textContent))", arg=PANEL, timeout=30_000)
    for attempt in range(3):  # a Run All sent while the kernel connection settles can be dropped
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        _accept_kernel_dialog(page)
        try:
            page.wait_for_function(
                "panel => [...document.querySelectorAll(panel + ' .jp-CodeCell .jp-InputPrompt')]"
                ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))", arg=PANEL, timeout=30_000)
            break
        except Exception:
            if attempt == 2:
                raise
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _wait_done(page, n_code)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"lab_{name}_failed.png"))
        raise
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / f"lab_{name}.png"), full_page=True)
    stderr = page.locator(f'{PANEL} .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    texts = [stderr.nth(i).inner_text() for i in range(stderr.count())]
    assert texts == [], f"{name}: stderr or error output in JupyterLab: {texts[:3]}"
    outputs = page.locator(f"{PANEL} .jp-OutputArea-output")
    assert outputs.count() >= 4
    body = page.locator(f"{PANEL} .jp-Notebook").inner_text()
    assert "run smoke: utd_mhad split utd_mhad_smoke#0, seed 0" in body
    if name == "01_data":
        assert "'samples'" in body and page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 3
    else:
        assert "spatial [(" in body and page.locator(f"{PANEL} .jp-OutputArea-output img").count() >= 1
    page.close()
