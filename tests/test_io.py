"""Atomic writes: a failure leaves the old file intact; JSONL tolerates a torn last line."""
import json
import os

import pytest

from neuron.io import append_jsonl, atomic_path, read_jsonl, write_json


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "a.json"
    write_json(p, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text('{"v": 2, "trunc')
            raise RuntimeError("killed mid-write")
    assert json.loads(p.read_text()) == {"v": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_jsonl_torn_last_line_ignored(tmp_path):
    p = tmp_path / "log.jsonl"
    append_jsonl(p, {"a": 1})
    append_jsonl(p, {"a": 2})
    with open(p, "a") as fh:
        fh.write('{"a": 3, "b"')  # a crash during the append
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}]
    p.write_text('{"a": 1}\n{broken\n{"a": 2}\n')
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(p)  # corruption in the middle is not silently dropped


def test_gzipped_jsonl_appends_members_and_tolerates_a_torn_tail(tmp_path):
    import gzip

    p = tmp_path / "log.jsonl.gz"
    append_jsonl(p, {"a": 1})
    append_jsonl(p, {"a": "é"})
    assert gzip.decompress(p.read_bytes()).decode() == '{"a": 1}\n{"a": "é"}\n'  # valid gzip
    assert read_jsonl(p) == [{"a": 1}, {"a": "é"}]
    whole = p.read_bytes()
    append_jsonl(p, {"a": 3})
    p.write_bytes(p.read_bytes()[: len(whole) + 12])  # a crash during the third append
    assert read_jsonl(p) == [{"a": 1}, {"a": "é"}]


def test_generator_log_path_prefers_the_gzipped_log(tmp_path):
    from neuron.side_info.generate import finished_items, log_path

    assert log_path(tmp_path) == tmp_path / "generation_log.jsonl"
    gz = tmp_path / "generation_log.jsonl.gz"
    append_jsonl(gz, {"type": "item", "class": "wave", "dialogue": "spatial", "answers": {"x": []}})
    assert log_path(tmp_path) == gz
    assert finished_items(tmp_path) == {("wave", "spatial"): {"x": []}}
