"""Generation loop for LLM side information (Neuron, CVPR 2025, Sec. 3.2).

For every class and dialogue ("spatial", "temporal"; see :mod:`neuron.side_info.prompts`), the
three turns are asked in one conversation. Each reply is parsed (a JSON array is extracted from
the reply text) and validated strictly (exactly ``k`` distinct non-empty strings within length
bounds). Two strategies:

* ``"strict"`` (default, capable models): up to ``max_attempts`` tries per turn; after a
  malformed reply the reply and a correction request stay in the conversation (re-asking).
  If no try is valid, SideInfoError names the class and level.
* ``"pool"`` (tiny offline models such as SmolLM2-135M): up to ``max_calls`` calls per turn,
  each sampling ``num_samples`` replies with temperature; every complete quoted string is a
  candidate, each candidate is validated on its own, and unique valid candidates are pooled in
  the order they arrive until ``k`` are collected (the first ``k`` are kept). Nothing is ever
  padded or invented: fewer than ``k`` after ``max_calls`` raises SideInfoError.

Every call is logged to ``<out_dir>/generation_log.jsonl`` (messages with the system prompt
referenced by its SHA-256, model id, decoding parameters, seed, wall time, the replies and their
SHA-256). A finished (class, dialogue) item is logged as an ``item`` record and the level JSONs
(``<out_dir>/<level>.json``, classes finished so far, in class order) are rewritten atomically.
A rerun reads the log and never asks a finished item again (resume).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from neuron.config import GenerationConfig
from neuron.errors import SideInfoError
from neuron.io import append_jsonl, read_jsonl, write_json, write_text
from neuron.side_info.backends import ChatBackend, get_backend
from neuron.side_info.prompts import DIALOGUES, build_messages, reask_message, system_prompt
from neuron.side_info.store import (MAX_CHARS, MIN_CHARS, check_description, normalise,
                                    validate_descriptions)

LOG_NAME = "generation_log.jsonl"


def log_path(out_dir: str | Path) -> Path:
    """The generation log of ``out_dir``: ``generation_log.jsonl``, or its gzipped form
    ``generation_log.jsonl.gz`` when that exists (shipped logs over 2 MB are kept compressed;
    a resumed run appends to whichever is there)."""
    gz = Path(out_dir) / (LOG_NAME + ".gz")
    return gz if gz.exists() else Path(out_dir) / LOG_NAME


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extract_json_array(reply: str, salvage: bool = False) -> list:
    """Extract the first JSON array from ``reply`` (text around it is ignored).

    With ``salvage=True`` (pool strategy) a truncated or malformed array still yields its
    complete double-quoted strings. Raises SideInfoError when no array can be found.
    """
    start = reply.find("[")
    if start < 0:
        raise SideInfoError("reply contains no JSON array ('[' missing)")
    try:
        value, _ = json.JSONDecoder().raw_decode(reply[start:])
        if isinstance(value, list):
            return value
    except json.JSONDecodeError:
        pass
    if not salvage:
        raise SideInfoError("reply's JSON array is malformed or truncated")
    import re

    out = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', reply[start:]):
        try:
            out.append(json.loads(f'"{m.group(1)}"'))
        except json.JSONDecodeError:
            continue
    return out


def plausible_sentence(text: str, min_words: int = 3, max_words: int = 60) -> bool:
    """Pool-strategy filter for one candidate: no control characters (newline, tab, CR),
    no stray brackets or quotes, ``min_words``..``max_words`` words, starts with a letter."""
    import re

    s = text.strip()
    if re.search(r"[\x00-\x1f\[\]{}\"\u201c\u201d\\]", s):
        return False
    return bool(re.match(r"[A-Za-z]", s)) and min_words <= len(s.split()) <= max_words


def parse_answer(reply: str, k: int, where: str, min_chars: int = MIN_CHARS,
                 max_chars: int = MAX_CHARS) -> list[str]:
    """Strictly parse one reply into ``k`` valid descriptions (SideInfoError naming ``where``)."""
    try:
        items = extract_json_array(reply)
    except SideInfoError as exc:
        raise SideInfoError(f"{where}: {exc}") from None
    return validate_descriptions(items, k, where, min_chars, max_chars)


def _seed(*parts) -> int:
    return int(_sha("|".join(map(str, parts)))[:8], 16)


def _log_messages(messages: list[dict]) -> list[dict]:
    return [{"role": "system", "sha256": _sha(m["content"])} if m["role"] == "system" else m
            for m in messages]


def finished_items(out_dir: str | Path) -> dict[tuple[str, str], dict[str, list[str]]]:
    """``{(class, dialogue): {level: [k strings]}}`` of items finished in earlier runs."""
    done = {}
    for rec in read_jsonl(log_path(out_dir)):
        if rec.get("type") == "item":
            done[(rec["class"], rec["dialogue"])] = rec["answers"]
    return done


def provenance_records(out_dir: str | Path) -> list[dict]:
    """One record per finished (class, dialogue) of ``out_dir``'s log, answers left out:
    folder (the side-information set's folder name), dataset, class, dialogue, model id, backend,
    decoding, strategy, calls, time, finish time."""
    keep = ("dataset", "class", "dialogue", "model_id", "backend", "decoding", "strategy",
            "calls", "time_s", "finished_at")
    folder = Path(out_dir).name
    return [{"folder": folder, **{k: r.get(k) for k in keep}} for r in read_jsonl(log_path(out_dir))
            if r.get("type") == "item"]


def update_provenance(prov_file: str | Path, out_dir: str | Path) -> int:
    """Merge the finished items of ``out_dir`` into the JSONL file ``prov_file``; return its count.

    Records are keyed by (folder, dataset, class, dialogue): a set's records replace only that
    set's earlier records (a resumed run), never another set's of the same dataset. Records
    written before the ``folder`` key existed are kept as they are. Raises ValueError naming the
    file and line for a line that is not a JSON object.
    """
    prov = Path(prov_file)
    recs: dict[tuple, dict] = {}
    if prov.exists():
        for i, line in enumerate(prov.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{prov}, line {i}: not JSON ({e})") from None
            if not isinstance(r, dict):
                raise ValueError(f"{prov}, line {i}: expected a JSON object")
            recs[(r.get("folder"), r.get("dataset"), r.get("class"), r.get("dialogue"))] = r
    for r in provenance_records(out_dir):
        recs[(r["folder"], r["dataset"], r["class"], r["dialogue"])] = r
    write_text(prov, "".join(json.dumps(r) + "\n" for r in recs.values()))
    return len(recs)


def generate_side_info(class_names: list[str], backend: ChatBackend, out_dir: str | Path,
                       k: int = 10, strategy: str = "strict", max_attempts: int = 3,
                       max_calls: int = 6, num_samples: int = 1,
                       dialogues: tuple[str, ...] = ("spatial", "temporal"),
                       min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS,
                       dataset: str | None = None, on_error: str = "raise",
                       progress: Callable[[str], None] | None = None) -> dict[str, dict[str, list[str]]]:
    """Generate (or resume) side information for ``class_names``; return the finished levels.

    Writes ``<out_dir>/<level>.json`` (schema ``{class: [k strings]}``, classes in
    ``class_names`` order, rewritten after every finished item) and appends to
    ``<out_dir>/generation_log.jsonl`` (or its ``.gz``, :func:`log_path`). Raises SideInfoError (class and level named) when a turn
    cannot be answered validly, BackendError when the backend fails; what was finished is kept.
    ``on_error="skip"`` logs a ``failed`` record for an item whose turn raised SideInfoError and
    goes on with the next item (a rerun asks it again).
    """
    if strategy not in ("strict", "pool"):
        raise SideInfoError(f"unknown strategy {strategy!r}; expected strict or pool")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = log_path(out_dir)
    done = finished_items(out_dir)
    logged_prompts = {r["sha256"] for r in read_jsonl(log) if r.get("type") == "system_prompt"}
    for dia in dialogues:
        sp = system_prompt(dia, k)
        if _sha(sp) not in logged_prompts:
            append_jsonl(log, {"type": "system_prompt", "dialogue": dia, "sha256": _sha(sp),
                               "text": sp})
    say = progress or (lambda s: None)

    for c in class_names:
        for dia in dialogues:
            if (c, dia) in done:
                continue
            t0 = time.time()
            answers: list[list[str]] = []
            calls = 0
            for turn, level in enumerate(DIALOGUES[dia]):
                ctx = dict(log=log, backend=backend, class_name=c, dialogue=dia, turn=turn,
                           level=level, k=k, dataset=dataset, min_chars=min_chars,
                           max_chars=max_chars, previous=answers)
                try:
                    if strategy == "strict":
                        items, n = _ask_strict(max_attempts=max_attempts, **ctx)
                    else:
                        items, n = _ask_pool(max_calls=max_calls, num_samples=num_samples, **ctx)
                except SideInfoError as exc:
                    if on_error != "skip":
                        raise
                    append_jsonl(log, {"type": "failed", "dataset": dataset, "class": c,
                                       "dialogue": dia, "level": level, "error": str(exc),
                                       "model_id": backend.model_id})
                    say(f"FAILED {exc}")
                    break
                answers.append(items)
                calls += n
            if len(answers) < len(DIALOGUES[dia]):
                continue
            rec = {"type": "item", "dataset": dataset, "class": c, "dialogue": dia,
                   "answers": dict(zip(DIALOGUES[dia], answers)), "model_id": backend.model_id,
                   "backend": type(backend).__name__, "decoding": backend.decoding,
                   "strategy": strategy, "calls": calls, "time_s": round(time.time() - t0, 2),
                   "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            append_jsonl(log, rec)
            done[(c, dia)] = rec["answers"]
            _write_levels(out_dir, class_names, done)
            say(f"{c!r} {dia}: {calls} calls, {rec['time_s']} s")
    _write_levels(out_dir, class_names, done)
    return _collect(class_names, done)


def _collect(class_names, done) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for dia, levels in DIALOGUES.items():
        for lv in levels:
            out[lv] = {c: done[(c, dia)][lv] for c in class_names if (c, dia) in done}
    return {lv: v for lv, v in out.items() if v}


def _write_levels(out_dir: Path, class_names, done) -> None:
    for lv, data in _collect(class_names, done).items():
        write_json(out_dir / f"{lv}.json", data)


def _log_call(log, backend, class_name, dialogue, level, turn, attempt, messages, seed, replies,
              t0, dataset, **extra) -> None:
    append_jsonl(log, {"type": "call", "dataset": dataset, "class": class_name,
                       "dialogue": dialogue, "level": level, "turn": turn, "attempt": attempt,
                       "model_id": backend.model_id, "backend": type(backend).__name__,
                       "decoding": backend.decoding,
                       "assistant_prefix": getattr(backend, "assistant_prefix", ""),
                       "seed": seed, "messages": _log_messages(messages),
                       "replies": replies, "replies_sha256": [_sha(r) for r in replies],
                       "time_s": round(time.time() - t0, 3),
                       "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra})


def _ask_strict(log, backend, class_name, dialogue, turn, level, k, dataset, min_chars,
                max_chars, previous, max_attempts):
    messages = build_messages(dialogue, class_name, turn, previous, k)
    where = f"class {class_name!r}, level {level}"
    reason = "no attempt"
    for attempt in range(max_attempts):
        seed = _seed(class_name, level, attempt)
        t0 = time.time()
        reply = backend.chat(messages, seed=seed)
        try:
            items = parse_answer(reply, k, where, min_chars, max_chars)
        except SideInfoError as exc:
            reason = str(exc).split(": ", 1)[-1]
            _log_call(log, backend, class_name, dialogue, level, turn, attempt, messages, seed,
                      [reply], t0, dataset, valid=False, error=reason)
            messages = messages + [{"role": "assistant", "content": reply}, reask_message(reason, k)]
            continue
        _log_call(log, backend, class_name, dialogue, level, turn, attempt, messages, seed,
                  [reply], t0, dataset, valid=True)
        return items, attempt + 1
    raise SideInfoError(f"{where}: no valid answer after {max_attempts} tries; last problem: {reason}")


def _ask_pool(log, backend, class_name, dialogue, turn, level, k, dataset, min_chars, max_chars,
              previous, max_calls, num_samples):
    messages = build_messages(dialogue, class_name, turn, previous, k)
    pool: list[str] = []
    seen = {normalise(s) for prev in previous for s in prev}  # no repeats of earlier turns
    seen |= {normalise(class_name)}
    for call in range(max_calls):
        seed = _seed(class_name, level, call)
        t0 = time.time()
        replies = backend.chat_n(messages, num_samples, seed=seed)
        added = 0
        for reply in replies:
            try:
                cands = extract_json_array(reply, salvage=True)
            except SideInfoError:
                continue
            for cand in cands:
                if check_description(cand, min_chars, max_chars) is not None:
                    continue
                if not plausible_sentence(cand):
                    continue
                key = normalise(cand)
                if key in seen:
                    continue
                seen.add(key)
                pool.append(cand.strip())
                added += 1
        _log_call(log, backend, class_name, dialogue, level, turn, call, messages, seed, replies,
                  t0, dataset, new_valid_items=added, pooled=len(pool))
        if len(pool) >= k:
            return validate_descriptions(pool[:k], k, f"class {class_name!r}, level {level}",
                                         min_chars, max_chars), call + 1
    raise SideInfoError(f"class {class_name!r}, level {level}: only {len(pool)} of {k} valid "
                        f"distinct descriptions after {max_calls} calls x {num_samples} samples")


# --------------------------------------------------------------------------- from a run's config
def configured_backend(g: GenerationConfig, k: int) -> ChatBackend:
    """The chat backend a run's ``side_info.generation`` section names (``k``: descriptions per
    level, for the JSON schema of the llama.cpp backends, which run on one CPU thread).

    Raises:
        BackendError: the backend cannot be built (missing package, key or model file).
    """
    if g.backend == "openai":
        return get_backend("openai", model=g.model, base_url=g.base_url, api_key_env=g.api_key_env,
                           require_key=g.require_key, timeout=g.timeout, max_retries=g.max_retries,
                           backoff_base=g.backoff_base, temperature=g.temperature,
                           max_tokens=g.max_new_tokens)
    if g.backend == "transformers":
        return get_backend("transformers", model=g.model, max_new_tokens=g.max_new_tokens,
                           temperature=g.temperature)
    if g.backend in ("llamacpp", "smollm2-llamacpp"):
        kw = {"model_path": g.model} if g.backend == "llamacpp" else {}
        return get_backend(g.backend, max_tokens=g.max_new_tokens, temperature=g.temperature, k=k, **kw)
    return get_backend("smollm2", max_new_tokens=g.max_new_tokens, temperature=g.temperature)


def generate_configured(g: GenerationConfig, class_names: list[str], out_dir: str | Path, k: int,
                        dataset: str) -> Path:
    """Run (or resume) :func:`generate_side_info` as a run's ``side_info.generation`` section
    says, into ``out_dir``; returns it.

    Classes outside ``g.classes`` (default: all) are not generated; a later load then fails
    naming the missing class, so restrict the run's classes accordingly.
    """
    names = class_names if g.classes is None else [class_names[c] for c in g.classes]
    generate_side_info(names, configured_backend(g, k), out_dir, k=k, strategy=g.strategy,
                       max_attempts=g.max_attempts, max_calls=g.max_calls, num_samples=g.num_samples,
                       dataset=dataset)
    return Path(out_dir)
