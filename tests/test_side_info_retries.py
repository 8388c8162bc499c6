"""Retries of the OpenAI-compatible chat backend (tenacity): Retry-After, backoff, logging.

A fake client raises the ``openai`` client's own exception classes with real ``httpx``
responses, so no network is used; the sleep is a recorder, so no test waits.
"""
from __future__ import annotations

import email.utils
import logging
import time
from types import SimpleNamespace

import httpx
import openai
import pytest

from neuron.errors import BackendError
from neuron.side_info.backends import OpenAIChatBackend, retry_after_seconds

MESSAGES = [{"role": "user", "content": "describe waving"}]


def status_error(status: int, headers: dict | None = None) -> openai.APIStatusError:
    """The exception the openai client raises for an HTTP ``status`` reply with ``headers``."""
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    cls = openai.RateLimitError if status == 429 else (
        openai.InternalServerError if status >= 500 else openai.BadRequestError)
    return cls(f"HTTP {status}", response=response, body=None)


class FakeClient:
    """``client.chat.completions.create(...)``: raises the queued exceptions, then answers."""

    def __init__(self, *failures: Exception, answer: str = '["a person waves a hand"]'):
        self.failures = list(failures)
        self.answer = answer
        self.calls = 0
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **kwargs):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=self.answer))])


def backend(client, slept, **kw):
    return OpenAIChatBackend("fake-model", api_key_env="", require_key=False, client=client,
                             sleep=slept.append, **kw)


def test_429_with_retry_after_seconds_waits_that_long():
    slept: list[float] = []
    client = FakeClient(status_error(429, {"Retry-After": "7"}))
    be = backend(client, slept, backoff_base=0.5, backoff_max=1.0)
    assert be.chat(MESSAGES) == '["a person waves a hand"]'
    assert slept == [7.0]  # the server's wait, not the 0.5-1.0 s backoff
    assert client.calls == 2
    assert be.retry_log == [{"attempt": 0, "status": 429, "error": "RateLimitError",
                             "retry_after_s": 7.0, "delay_s": 7.0}]


def test_retry_after_as_http_date_and_its_limit():
    slept: list[float] = []
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    client = FakeClient(status_error(503, {"Retry-After": later}),
                        status_error(429, {"Retry-After": "3600"}))
    be = backend(client, slept, retry_after_max=300)
    be.chat(MESSAGES)
    assert 115 <= slept[0] <= 121, slept  # the date is to the second
    assert slept[1] == 300  # an hour asked, capped at retry_after_max


def test_retry_after_parser():
    def exc(value):
        return status_error(429, {} if value is None else {"Retry-After": value})

    assert retry_after_seconds(exc("2.5")) == 2.5
    assert retry_after_seconds(exc("-3")) == 0.0
    assert retry_after_seconds(exc("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp() - 30
    assert retry_after_seconds(exc("Wed, 21 Oct 2015 07:28:00 GMT"), now=now) == 30.0
    assert retry_after_seconds(exc("soon")) is None
    assert retry_after_seconds(exc(None)) is None
    assert retry_after_seconds(ValueError("no response")) is None


def test_without_retry_after_exponential_backoff_with_jitter():
    slept: list[float] = []
    client = FakeClient(*[status_error(500) for _ in range(4)])
    be = backend(client, slept, backoff_base=1.0, backoff_max=4.0, max_retries=4)
    be.chat(MESSAGES)
    # retry n waits min(4, 2**n) + uniform(0, 1)
    for n, s in enumerate(slept):
        low = min(4.0, 2.0 ** n)
        assert low <= s <= low + 1.0, (n, slept)
    assert len(set(slept)) == 4  # jittered, not a fixed schedule


def test_every_attempt_is_logged_and_the_key_never(monkeypatch, caplog):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("RETRY_TEST_KEY", secret)
    slept: list[float] = []
    client = FakeClient(status_error(429, {"Retry-After": "1"}), openai.APITimeoutError(
        httpx.Request("POST", "http://127.0.0.1:1/v1")), status_error(502))
    be = OpenAIChatBackend("fake-model", api_key_env="RETRY_TEST_KEY", client=client,
                           sleep=slept.append, max_retries=2, backoff_base=0.01)
    with caplog.at_level(logging.WARNING, logger="neuron.side_info.backends"):
        with pytest.raises(BackendError, match="after 3 tries: InternalServerError"):
            be.chat(MESSAGES)
    assert client.calls == 3 and len(slept) == 2
    assert [(r["attempt"], r["status"], r["error"]) for r in be.retry_log] == [
        (0, 429, "RateLimitError"), (1, None, "APITimeoutError"), (2, 502, "InternalServerError")]
    assert [r["delay_s"] for r in be.retry_log] == [1.0, slept[1], None]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and "try 1 of 3" in lines[0] and "giving up" in lines[2]
    assert all(secret not in line for line in lines)


def test_non_retryable_error_fails_at_once():
    slept: list[float] = []
    client = FakeClient(status_error(400))
    be = backend(client, slept, max_retries=5)
    with pytest.raises(BackendError, match="after 1 try: BadRequestError"):
        be.chat(MESSAGES)
    assert client.calls == 1 and slept == []
    assert [r["delay_s"] for r in be.retry_log] == [None]


def test_empty_message_is_not_retried():
    slept: list[float] = []
    client = FakeClient(answer=None)
    with pytest.raises(BackendError, match="empty message"):
        backend(client, slept).chat(MESSAGES)
    assert client.calls == 1 and slept == []
