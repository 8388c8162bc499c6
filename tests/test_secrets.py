"""An API key set in the environment never reaches a notebook, report, log or manifest.

The side-information notebook generates descriptions through the OpenAI-compatible backend
against a fake server on 127.0.0.1 (started here), is rendered to HTML, and every output file is
scanned for the key.
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT

KEY = "sk-neuron-test-SECRET-7f3a9c1e55d2"


class _Fake(BaseHTTPRequestHandler):
    seen_keys: list = []

    def log_message(self, *a):  # quiet
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Fake.seen_keys.append(self.headers.get("Authorization", ""))
        last = body["messages"][-1]["content"]
        m = re.search(r'"([^"]+)"', last)
        cls = m.group(1) if m else "action"
        turn = sum(1 for x in body["messages"] if x["role"] == "user")
        items = [f"turn {turn} description {i} of {cls}: the arms and legs move in pattern {i}"
                 for i in range(10)]
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": json.dumps(items)}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def fake_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


@pytest.mark.slow
def test_api_key_never_written(fake_server, data_root, tmp_path, monkeypatch):
    import papermill as pm

    from neuron.pipeline import render_html

    monkeypatch.setenv("NEURON_TEST_API_KEY", KEY)
    monkeypatch.setenv("NEURON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NEURON_DATA_ROOT", str(data_root))
    config = {
        "name": "secret", "seed": 0,
        "data": {"dataset": "utd_mhad", "split": "utd_mhad_smoke", "pseudo_unseen": 1},
        "side_info": {"source": "generated", "encoder": "all-MiniLM-L6-v2",
                      "generation": {"backend": "openai", "model": "fake-model", "base_url": fake_server,
                                     "api_key_env": "NEURON_TEST_API_KEY", "max_retries": 1}},
    }
    run_dir = tmp_path / "run"
    out = tmp_path / "02_side_info.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks/02_side_info.ipynb"), str(out),
                        parameters={"config": config, "run_dir": str(run_dir)}, cwd=str(ROOT),
                        progress_bar=False, kernel_name="python3")
    render_html(out)
    assert _Fake.seen_keys and all(k == f"Bearer {KEY}" for k in _Fake.seen_keys)  # the key was used
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "generation_log.jsonl" for p in files)
    assert any(p.suffix == ".html" for p in files) and (run_dir / "manifest.json").exists()
    for p in files:
        assert KEY.encode() not in p.read_bytes(), f"API key leaked into {p}"
