"""Side-information generation, validation, resume, backends and import (neuron.side_info)."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from neuron.errors import BackendError, SideInfoError
from neuron.io import read_jsonl
from neuron.side_info import (LEVELS, OpenAIChatBackend, class_name_side_info, extract_json_array,
                              generate_side_info, import_paper_semantics, load_side_info,
                              parse_answer, smollm2_gguf_path, temporal_round_texts)
from neuron.side_info.backends import ChatBackend
from neuron.side_info.prompts import build_messages

SEM = Path(os.environ.get("NEURON_SHARED", Path(__file__).resolve().parents[2] / "shared")) \
    / "data" / "neuron_semantics"
K = 4


def answer(tag: str, k: int = K) -> str:
    return json.dumps([f"{tag} description number {i}" for i in range(k)])


class ScriptedBackend(ChatBackend):
    """Replies from a function of (class, level, call count); records every request."""

    model_id = "fake/scripted"
    decoding = {"temperature": 0.0}

    def __init__(self, fn):
        self.fn = fn
        self.calls: list[tuple[str, str]] = []

    def chat(self, messages, seed=None):
        user = [m["content"] for m in messages if m["role"] == "user"]
        cls = user[0].split('"')[1]
        level = _level_of(messages)
        self.calls.append((cls, level))
        return self.fn(cls, level, sum(1 for c in self.calls if c == (cls, level)), messages)


def _level_of(messages):
    from neuron.side_info.prompts import DIALOGUES
    n_prev = sum(1 for m in messages if m["role"] == "assistant")
    n_reask = sum(1 for m in messages if m["role"] == "user" and "not valid" in m["content"])
    dia = "spatial" if "skeleton sensor" in messages[0]["content"] else "temporal"
    return DIALOGUES[dia][n_prev - n_reask]


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("reply,msg", [
    ("no array here", "no JSON array"),
    ('["a valid description one", "a valid description two"]', "expected 4 descriptions"),
    (json.dumps(["a valid description"] * 4), "duplicates"),
    (json.dumps(["ok description one", "", "ok description three", "ok description four"]), "empty"),
    (json.dumps(["short", "ok description two", "ok description three", "ok description four"]), "too short"),
    (json.dumps(["x" * 500, "ok description two", "ok description three", "ok description four"]), "too long"),
    (json.dumps([1, "ok description two", "ok description three", "ok description four"]), "not a string"),
    ('["truncated description one", "trunc', "malformed"),
])
def test_validation_rejects_bad_answers(reply, msg):
    with pytest.raises(SideInfoError, match=msg) as ei:
        parse_answer(reply, K, "class 'wave', level spatial_cg")
    assert "wave" in str(ei.value) and "spatial_cg" in str(ei.value)


def test_extraction_is_tolerant_but_validation_strict():
    assert parse_answer("Sure! " + answer("x") + " Hope it helps.", K, "w") == \
        json.loads(answer("x"))
    assert extract_json_array('["one two three", "four five six", "tru', salvage=True) == \
        ["one two three", "four five six"]


def test_messages_replay_previous_turns():
    msgs = build_messages("spatial", "wave", 2, [["a"], ["b"]], k=K)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "drink water" in msgs[0]["content"] and "fine-grained" in msgs[-1]["content"]


# ------------------------------------------------------------------ generation loop
def test_reask_then_success(tmp_path):
    def fn(cls, level, n, messages):
        if level == "spatial_mg" and n == 1:
            return "I think the arm moves."  # malformed -> re-ask
        if level == "spatial_mg" and n == 2:
            return json.dumps(["dup item here"] * K)  # invalid again
        return answer(f"{cls} {level}")

    be = ScriptedBackend(fn)
    out = generate_side_info(["wave"], be, tmp_path, k=K, max_attempts=3, dialogues=("spatial",))
    assert out["spatial_mg"]["wave"] == json.loads(answer("wave spatial_mg"))
    assert be.calls.count(("wave", "spatial_mg")) == 3
    log = read_jsonl(tmp_path / "generation_log.jsonl")
    calls = [r for r in log if r["type"] == "call" and r["level"] == "spatial_mg"]
    assert [c["valid"] for c in calls] == [False, False, True]
    # the third request carries both bad replies and two correction messages
    last = calls[-1]["messages"]
    assert sum(1 for m in last if m["role"] == "user" and "not valid" in m["content"]) == 2
    assert all(len(r["replies_sha256"][0]) == 64 for r in calls)


def test_reask_bounded_then_error(tmp_path):
    be = ScriptedBackend(lambda *a: "never json")
    with pytest.raises(SideInfoError, match=r"class 'wave', level spatial_cg: no valid answer after 2"):
        generate_side_info(["wave"], be, tmp_path, k=K, max_attempts=2)
    assert len(be.calls) == 2


def test_resume_skips_finished_items(tmp_path):
    classes = ["wave", "clap", "throw"]

    class Boom(Exception):
        pass

    def failing(cls, level, n, messages):
        if cls == "clap" and level == "temporal_sp":
            raise Boom("interrupted")
        return answer(f"{cls} {level}")

    be1 = ScriptedBackend(failing)
    with pytest.raises(Boom):
        generate_side_info(classes, be1, tmp_path, k=K)
    partial = json.loads((tmp_path / "spatial_cg.json").read_text())
    assert list(partial) == ["wave", "clap"]  # finished items kept on disk
    assert "clap" not in json.loads((tmp_path / "temporal_fp.json").read_text())

    be2 = ScriptedBackend(lambda cls, level, n, m: answer(f"{cls} {level}"))
    out = generate_side_info(classes, be2, tmp_path, k=K)
    asked = {c for c in be2.calls}
    assert not any(c in asked for c in [("wave", lv) for lv in LEVELS])
    assert not any(c in asked for c in [("clap", lv) for lv in LEVELS[:3]])
    assert ("clap", "temporal_fp") in asked and ("throw", "spatial_cg") in asked
    loaded = load_side_info(tmp_path, classes, k=K)
    assert loaded == out and list(loaded["temporal_tp"]) == classes


def test_pool_strategy_collects_unique_items_without_padding(tmp_path):
    fixed = [
        '["the right arm swings left", "the right arm swings left", "bad\\tone here ok"',
        'Sure: ["the hand opens wide slowly", "the torso stays upright"]',
        '["the head turns a little", "the elbow bends slightly", "extra item that is ignored"]',
    ]

    class Pool(ChatBackend):
        model_id = "fake/pool"
        decoding = {}
        n = 0

        def chat(self, messages, seed=None):
            self.n += 1
            if self.n <= 3:
                return fixed[self.n - 1]
            if "fine-grained" in messages[-1]["content"]:
                return '["only one fine item here"]'  # never reaches k -> fails, nothing padded
            return json.dumps([f"fresh item number {self.n} {i}" for i in range(3)])

    out = generate_side_info(["wave"], Pool(), tmp_path, k=K, strategy="pool", max_calls=3,
                             dialogues=("spatial",), on_error="skip")
    assert out == {}  # the spatial dialogue failed at turn 3 -> the item is not finished
    log = read_jsonl(tmp_path / "generation_log.jsonl")
    failed = [r for r in log if r["type"] == "failed"]
    assert len(failed) == 1 and "only 1 of 4" in failed[0]["error"] and "spatial_fg" in failed[0]["error"]
    calls = [r for r in log if r["type"] == "call"]
    assert [c["pooled"] for c in calls if c["level"] == "spatial_cg"] == [1, 3, 6]
    assert len(calls) == 3 + 2 + 3  # every call logged
    # the cg turn kept the first k unique valid items in arrival order
    mg_msgs = [c for c in calls if c["level"] == "spatial_mg"][0]["messages"]
    assert json.loads(mg_msgs[2]["content"]) == ["the right arm swings left", "the hand opens wide slowly",
                                                 "the torso stays upright", "the head turns a little"]


# ------------------------------------------------------------------ OpenAI-compatible backend
class _FakeOpenAI(BaseHTTPRequestHandler):
    statuses = [429, 500, 200]
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("Authorization"), body))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        if status != 200:
            payload = {"error": {"message": "slow down", "type": "x"}}
        else:
            payload = {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": answer("api")}}]}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def fake_server():
    _FakeOpenAI.statuses = [429, 500, 200]
    _FakeOpenAI.seen = []
    srv = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_openai_backend_retries_and_never_logs_key(fake_server, tmp_path, monkeypatch):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MY_LLM_KEY", secret)
    be = OpenAIChatBackend("fake-model", base_url=fake_server, api_key_env="MY_LLM_KEY",
                           backoff_base=0.01, max_retries=3, timeout=5)
    out = generate_side_info(["wave"], be, tmp_path, k=K, dialogues=("spatial",))
    assert out["spatial_cg"]["wave"][0] == "api description number 0"
    # no Retry-After from this server: exponential backoff 0.01 * 2**n plus jitter in [0, 0.01]
    delays = [r["delay_s"] for r in be.retry_log]
    assert len(delays) == 2 and 0.01 <= delays[0] <= 0.02 and 0.02 <= delays[1] <= 0.03, delays
    assert [r["status"] for r in be.retry_log] == [429, 500]
    assert _FakeOpenAI.seen[0][0] == f"Bearer {secret}"  # the key is sent ...
    for f in tmp_path.rglob("*"):  # ... but stored nowhere
        assert secret not in f.read_text()
        assert "MY_LLM_KEY" not in f.read_text()


def test_openai_backend_gives_up_and_missing_key(fake_server, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(BackendError, match="NO_SUCH_KEY_VAR"):
        OpenAIChatBackend("m", base_url=fake_server, api_key_env="NO_SUCH_KEY_VAR")
    _FakeOpenAI.statuses = [500] * 5
    be = OpenAIChatBackend("m", base_url=fake_server, api_key_env="NO_SUCH_KEY_VAR",
                           require_key=False, backoff_base=0.001, max_retries=2)
    with pytest.raises(BackendError, match="after 3 tries"):
        be.chat([{"role": "user", "content": "hi"}])


# ------------------------------------------------------------------ store / import
def test_load_side_info_errors(tmp_path):
    side = class_name_side_info(["wave", "clap"], k=K)
    from neuron.side_info import save_side_info
    save_side_info(tmp_path, side)
    assert load_side_info(tmp_path, ["wave", "clap"], k=K)["spatial_fg"]["clap"][0] == "a person clap"
    with pytest.raises(SideInfoError, match=r"class 'kick' missing from level spatial_cg, file .*spatial_cg.json"):
        load_side_info(tmp_path, ["wave", "kick"], k=K)
    with pytest.raises(SideInfoError, match=r"class 'wave', level spatial_cg.*expected 5"):
        load_side_info(tmp_path, ["wave"], k=5)
    bad = json.loads((tmp_path / "temporal_sp.json").read_text())
    bad["clap"][2] = "  "
    (tmp_path / "temporal_sp.json").write_text(json.dumps(bad))
    with pytest.raises(SideInfoError, match=r"class 'clap', level temporal_sp.*description 2: empty"):
        load_side_info(tmp_path, ["wave", "clap"], k=K)
    (tmp_path / "temporal_tp.json").write_text("{not json")
    with pytest.raises(SideInfoError, match="temporal_tp.json is unreadable"):
        load_side_info(tmp_path, ["wave"], k=K, levels=["temporal_tp"])


def test_class_name_semantics_and_temporal_concat():
    side = class_name_side_info(["wave"], k=3, mode="copies")
    assert side["temporal_tp"]["wave"] == ["a person wave"] * 3
    side = class_name_side_info(["wave"], k=10)
    assert len(set(side["spatial_cg"]["wave"])) == 10
    side["temporal_fp"]["wave"] = ["A1", "A2"]
    side["temporal_sp"]["wave"] = ["B1", "B2"]
    side["temporal_tp"]["wave"] = ["C1", "C2"]
    assert temporal_round_texts(side, "wave", 1) == ["A1", "A2"]
    assert temporal_round_texts(side, "wave", 3) == ["A1 B1 C1", "A2 B2 C2"]


@pytest.mark.skipif(not SEM.is_dir(), reason=f"paper side information not found at {SEM}")
@pytest.mark.parametrize("ds,n", [("ntu", 120), ("pku", 51)])
def test_import_paper_semantics(ds, n, tmp_path):
    import torch
    from neuron.side_info.embed import SemanticEmbeddings

    side, emb = import_paper_semantics(SEM / ds, out_folder=tmp_path / "json", cache_dir=tmp_path / "c")
    names = emb.class_names
    assert len(names) == n and set(side) == set(LEVELS)
    assert all(t.shape == (n, 10, 768) and t.dtype == torch.float32 for t in emb.spatial + emb.temporal)
    assert load_side_info(tmp_path / "json", names, check_duplicates=False) == side
    # re-ordered class list follows the names
    sub = [names[5], names[0]]
    side2, emb2 = import_paper_semantics(SEM / ds, sub)
    assert list(side2["spatial_cg"]) == sub
    assert torch.equal(emb2.temporal[2][0], emb.temporal[2][5])
    saved = list((tmp_path / "c").rglob("*.pt"))
    assert len(saved) == 1 and SemanticEmbeddings.load(saved[0]).class_names == names
    with pytest.raises(SideInfoError, match="'no such class'"):
        import_paper_semantics(SEM / ds, ["no such class"])


# ------------------------------------------------------------------ real tiny model
def test_smollm2_path():
    folder, name = smollm2_gguf_path()
    assert (Path(folder) / name).is_file() and name.endswith(".gguf")


@pytest.mark.slow
def test_smollm2_real_generation_one_class(tmp_path, monkeypatch):
    """SmolLM2-135M (offline GGUF): one class, spatial coarse turn only, pool strategy."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from neuron.side_info import smollm2_backend
    from neuron.side_info.generate import _ask_pool

    be = smollm2_backend(max_new_tokens=80)
    items, n_calls = _ask_pool(log=tmp_path / "log.jsonl", backend=be, class_name="right hand wave",
                               dialogue="spatial", turn=0, level="spatial_cg", k=3, dataset="t",
                               min_chars=10, max_chars=400, previous=[], max_calls=4, num_samples=1)
    assert len(items) == 3 and len({i.lower() for i in items}) == 3
    assert n_calls == len(read_jsonl(tmp_path / "log.jsonl"))


@pytest.mark.skipif(not SEM.is_dir(), reason=f"paper side information not found at {SEM}")
@pytest.mark.parametrize("ds, dataset", [("ntu", "ntu120"), ("pku", "pku_mmd1")])
def test_paper_descriptions_load_and_embed_with_minilm(ds, dataset, tmp_path, monkeypatch):
    """The paper's released NTU-120 / PKU-MMD descriptions load as a run's `paper` source would
    and embed with an offline encoder (MiniLM) into (classes, 10, 384) per round."""
    from neuron.config import load_dataset_spec
    from neuron.side_info.embed import embed_side_info
    from neuron.text import get_text_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    names = load_dataset_spec(dataset).class_names[:4]
    side = load_side_info(SEM / ds, names, k=10)
    emb = embed_side_info(side, names, get_text_encoder("all-MiniLM-L6-v2"), tmp_path / "cache")
    assert [tuple(t.shape) for t in emb.spatial + emb.temporal] == [(4, 10, 384)] * 6


def test_provenance_keeps_every_set_of_a_dataset(tmp_path):
    """Two side-information sets of the same dataset (e.g. transformers and llama.cpp backends)
    both keep their provenance; a resumed set replaces only its own records."""
    import json

    from neuron.io import append_jsonl
    from neuron.side_info.generate import log_path, update_provenance

    def item(folder, backend, calls):
        append_jsonl(log_path(tmp_path / folder), {
            "type": "item", "dataset": "utd_mhad", "class": "wave", "dialogue": "spatial",
            "model_id": "m", "backend": backend, "decoding": {}, "strategy": "pool",
            "calls": calls, "time_s": 1.0, "finished_at": "t", "answers": {"spatial_cg": ["x"]}})

    prov = tmp_path / "provenance.jsonl"
    prov.write_text(json.dumps({"dataset": "nw_ucla", "class": "old", "dialogue": "spatial"}) + "\n")
    item("set_a", "TransformersChatBackend", 3)
    item("set_b", "LlamaCppChatBackend", 5)
    assert update_provenance(prov, tmp_path / "set_a") == 2
    assert update_provenance(prov, tmp_path / "set_b") == 3
    item("set_b", "LlamaCppChatBackend", 7)            # the set resumed: its record is replaced
    assert update_provenance(prov, tmp_path / "set_b") == 3
    recs = [json.loads(line) for line in prov.read_text().splitlines()]
    by_folder = {r.get("folder"): r for r in recs}
    assert by_folder["set_a"]["backend"] == "TransformersChatBackend"
    assert by_folder["set_b"]["calls"] == 7 and "answers" not in by_folder["set_b"]
    assert by_folder[None]["class"] == "old"              # a record without a folder is kept
    prov.write_text("not json\n")
    with pytest.raises(ValueError, match="provenance.jsonl, line 1"):
        update_provenance(prov, tmp_path / "set_a")
