"""The inference process's own bounds, without a model: every structure that requests fill is capped."""

import threading
import time

from serving.inference.control import KeyGrant, LogEntry
from serving.inference.limits import InFlight, KeyCache, RateLimiter, Slot
from serving.inference.logwriter import LogWriter


class Keys:
    def __init__(self):
        self.calls = 0
        self.valid = {"good": KeyGrant(1, frozenset({"a"}), 60)}

    def authenticate(self, secret):
        self.calls += 1
        return self.valid.get(secret)


def test_the_key_cache_is_bounded_and_forgets_within_its_ttl():
    keys = Keys()
    cache = KeyCache(keys, ttl=0.2, size=3)

    for number in range(50):
        assert cache.grant(f"wrong-{number}") is None
    assert cache.grant("good") == keys.valid["good"]
    assert cache.grant("good") == keys.valid["good"]
    calls_before = keys.calls
    del keys.valid["good"]  # revoked
    time.sleep(0.25)

    assert len(cache._entries) == 3
    assert calls_before == 51  # the second "good" came from the cache
    assert cache.grant("good") is None


def test_the_rate_limiter_allows_the_rate_then_says_when_to_retry():
    limiter = RateLimiter(size=2)
    grant = KeyGrant(1, frozenset(), rate_limit_per_minute=3)

    answers = [limiter.take(grant) for _ in range(4)]
    for key_id in range(2, 10):
        limiter.take(KeyGrant(key_id, frozenset(), 60))

    assert answers[:3] == [None, None, None]
    assert answers[3] == 20  # one request every 20 s at 3 a minute
    assert len(limiter._buckets) == 2


def test_a_slot_is_given_back_once_however_the_request_ends():
    in_flight = InFlight(limit=1)
    assert in_flight.try_enter()
    slot = Slot(in_flight)

    refused = in_flight.try_enter()
    slot.release()
    slot.release()
    del slot

    assert refused is False and in_flight.count == 0
    assert in_flight.try_enter()
    dropped = Slot(in_flight)
    del dropped  # a request that vanished without releasing still frees its place
    assert in_flight.count == 0


def test_the_request_log_drops_and_counts_rows_when_the_database_falls_behind():
    release = threading.Event()
    written = []

    class SlowControl:
        def record(self, entry):
            release.wait(10)
            written.append(entry)
            return len(written)

    drops = []
    writer = LogWriter(SlowControl(), size=2, on_drop=lambda: drops.append(1))
    writer.start()
    entries = [LogEntry(1, 1, 1, 1.0, 200, "answer") for _ in range(10)]
    writer.put(entries[0])
    time.sleep(0.1)  # the writer holds the first entry; two more fit in the queue
    for entry in entries[1:]:
        writer.put(entry)
    release.set()
    assert writer.flush()
    writer.close(5)

    assert len(written) == 3 and len(drops) == 7
    assert [entry.row_id for entry in written] == [1, 2, 3]


def test_serve_builds_the_configured_backend_and_refuses_a_vllm_backend_without_its_url():
    import pytest
    from django.core.management import CommandError, call_command

    from serving.engine.vllm import VllmEngine
    from serving.inference.config import InferenceConfig
    from serving.management.commands.serve import build_engine

    engine = build_engine(InferenceConfig(backend="vllm", vllm_url="http://127.0.0.1:9"))

    assert isinstance(engine, VllmEngine)
    with pytest.raises(CommandError, match="vllm backend needs vllm_url"):
        call_command("serve", "--backend", "vllm", "--vllm-url", "", "--port", "0")


def test_the_pages_show_callers_the_inference_processs_address(settings):
    from django.test import RequestFactory

    from serving.views import inference_url

    settings.ALLOWED_HOSTS = ["studio.internal"]
    settings.SERVING = {**settings.SERVING, "port": 8100, "public_url": ""}
    on_web_port = inference_url(RequestFactory().get("/", HTTP_HOST="studio.internal:8000"))
    settings.SERVING = {**settings.SERVING, "public_url": "https://llm.example.com/"}
    behind_a_proxy = inference_url(RequestFactory().get("/", HTTP_HOST="studio.internal"))

    assert on_web_port == "http://studio.internal:8100/v1"
    assert behind_a_proxy == "https://llm.example.com/v1"
