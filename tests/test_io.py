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
