"""Small pure pieces: ids and time, the token bucket, the in-process store."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from app.chat.ratelimit import TokenBucket
from app.clock import IdClock, format_id, iso_time, parse_id
from app.store.memory import MemoryStore


def test_iso_time_has_milliseconds_and_z() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1_795_292_103_123) == "2026-11-21T20:15:03.123Z"


@given(st.integers(0, 10**13 - 2), st.integers(0, 999_999))
def test_ids_round_trip_and_sort_like_numbers(ms: int, seq: int) -> None:
    message_id = format_id(ms, seq)
    assert parse_id(message_id) == (ms, seq)
    assert (format_id(ms, seq) < format_id(ms, seq + 1)) if seq < 999_999 else True
    assert format_id(ms, seq) < format_id(ms + 1, 0)


def test_id_clock_is_strictly_increasing() -> None:
    clock = IdClock()
    ids = [clock.next()[0] for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=20, burst=3)
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    time.sleep(0.06)
    assert bucket.allow()


def test_memory_store_forgets_idle_empty_rooms_but_not_the_lobby() -> None:
    store = MemoryStore(history_limit=3, room_ttl_seconds=0)
    store.append("lobby", "a", "kept")
    store.append("quiet", "a", "gone soon")
    store.claim("busy", "b", "sid-b")
    time.sleep(0.01)
    assert store.cleanup() == 1
    assert store.history("quiet").messages == []
    assert [m.message for m in store.history("lobby").messages] == ["kept"]
    assert store.members("busy") == ["b"]
    assert store.reserve_room("quiet") and not store.reserve_room("quiet")
    assert not store.reserve_room("lobby")


def test_memory_store_history_cap_and_truncation() -> None:
    store = MemoryStore(history_limit=3, room_ttl_seconds=60)
    ids = [store.append("r", "a", str(i)).id for i in range(5)]
    assert [m.id for m in store.history("r").messages] == ids[2:]
    assert store.history("r", since=ids[0]).truncated
    page = store.history("r", since=ids[2])
    assert not page.truncated and [m.id for m in page.messages] == ids[3:]


def test_each_app_reports_its_own_readiness() -> None:
    """livechat_ready belongs to the app that serves /metrics, not to the last app built."""
    from app import create_app
    from app.config import Settings
    from app.internal import create_internal_app

    draining, serving = (create_app(Settings(secret_key="t")) for _ in range(2))
    draining.extensions["livechat"].draining = True
    for app, ready in ((draining, 0.0), (serving, 1.0)):
        internal = create_internal_app(app.extensions["livechat"])
        text = internal.test_client().get("/metrics").get_data(as_text=True)
        assert f"\nlivechat_ready {ready}\n" in text, text[:300]
        assert text.count("# TYPE livechat_ready gauge") == 1
