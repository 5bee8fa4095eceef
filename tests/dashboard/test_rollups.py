"""The rollups' maths and their life in the store: bucketing, percentiles from bins, window edges, TTLs."""

from __future__ import annotations

import pytest
from django.conf import settings

from codeq_platform.base import kv, rollups
from codeq_platform.engine.keys import rollup_key

NOW_MS = 1_780_000_000_000 + 30_000  # 30 s into a minute
MINUTE_MS = 60_000


@pytest.fixture(autouse=True)
def _fresh(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix


def flush(tally: rollups.Tally) -> None:
    engine = kv.sync_engine()
    for calls in tally.calls(settings.CODEQ_KV_PREFIX).values():
        engine.link.execute_many(calls)


def read(name: str, now_ms: int = NOW_MS) -> rollups.Window:
    engine = kv.sync_engine()
    return rollups.read_window(engine.link, settings.CODEQ_KV_PREFIX, "acme", name, now_ms, ["resize", rollups.ALL])


def test_a_duration_falls_in_the_first_bin_whose_bound_holds_it():
    assert rollups.bin_of(0) == 0 and rollups.bin_of(5) == 0 and rollups.bin_of(6) == 1
    assert rollups.bin_of(1_000) == rollups.BOUNDS_MS.index(1_000)
    assert rollups.bin_of(10**9) == len(rollups.BOUNDS_MS)


def test_percentiles_interpolate_inside_the_bin_where_the_rank_falls():
    bins = [0] * (len(rollups.BOUNDS_MS) + 1)
    bins[rollups.bin_of(80)] = 10  # ten samples in (50, 100]
    assert rollups.percentile(bins, 0.5) == pytest.approx(75)
    assert rollups.percentile(bins, 1.0) == pytest.approx(100)
    bins[rollups.bin_of(2_000)] = 10  # ten more in (1000, 2500]
    assert rollups.percentile(bins, 0.5) == pytest.approx(100)
    assert rollups.percentile(bins, 0.95) == pytest.approx(1_000 + 1_500 * 0.9)
    assert rollups.percentile([0] * len(bins), 0.5) is None


def test_a_rank_in_the_open_last_bin_answers_its_lower_bound():
    bins = [0] * len(rollups.BOUNDS_MS) + [4]
    assert rollups.percentile(bins, 0.5) == rollups.BOUNDS_MS[-1]


def test_windows_end_with_the_current_bucket_and_drop_what_is_older():
    tally = rollups.Tally()
    tally.add("acme", NOW_MS, "resize", "ok", 2)
    tally.add("acme", NOW_MS - 59 * MINUTE_MS, "resize", "ok", 3)  # the 1 h window's first minute
    tally.add("acme", NOW_MS - 60 * MINUTE_MS, "resize", "ok", 5)  # just before it
    tally.add("acme", NOW_MS - 25 * 60 * MINUTE_MS, "resize", "ok", 7)  # outside 24 h, inside 7 d
    flush(tally)

    hour = read("1h")
    assert len(hour.buckets) == 60 and hour.counts("resize", "ok")[-1] == 2 and hour.counts("resize", "ok")[0] == 3
    assert sum(hour.counts("resize", "ok")) == 5
    assert hour.starts_ms[-1] == NOW_MS // MINUTE_MS * MINUTE_MS
    assert sum(read("24h").counts("resize", "ok")) == 10
    assert sum(read("7d").counts("resize", "ok")) == 17
    assert read("1h").per_minute("resize", "ok")[-1] == 2
    assert read("24h").per_minute("resize", "ok")[-1] == pytest.approx(0.2)


def test_every_bucket_expires_within_its_resolution_s_bound():
    tally = rollups.Tally()
    tally.duration("acme", NOW_MS, "resize", "w", 120)
    tally.add("acme", NOW_MS, "/w/7/box", "n")
    flush(tally)
    engine = kv.sync_engine()
    for res in rollups.RESOLUTIONS:
        key = rollup_key(settings.CODEQ_KV_PREFIX, "acme", res.name, NOW_MS // 1000 // res.seconds)
        ttl = engine.link.execute(("TTL", key))
        assert 0 < ttl <= res.ttl_seconds
        has_claims = engine.link.execute(("HEXISTS", key, "/w/7/box|n"))
        assert has_claims == (1 if res is rollups.MINUTE else 0)  # claims are kept by the minute only
    assert read("1h").overall_percentile("resize", "w", 0.5) == pytest.approx(100 + 150 * 0.5)


def test_depth_carries_forward_until_the_next_one_written():
    engine = kv.sync_engine()
    engine.link.execute_many(rollups.depth_calls(settings.CODEQ_KV_PREFIX, "acme", NOW_MS - 10 * MINUTE_MS,
                                                 {"resize": 4, "mail": 1}))  # fmt: skip
    depths = read("1h").depths("resize")
    assert depths[-12] is None and depths[-11:] == [4] * 11
    assert read("1h").depths(rollups.ALL)[-1] == 5


def test_dropping_the_oldest_minute_frees_its_figures_and_says_how_many():
    tally = rollups.Tally()
    tally.add("acme", NOW_MS - MINUTE_MS, "resize", "ok", 4)
    tally.add("globex", NOW_MS - MINUTE_MS, "mail", "bad", 1)
    tally.add("acme", NOW_MS, "resize", "ok", 2)
    assert tally.drop_oldest_minute() == 5
    assert list(tally.counts.values()) == [2]


def test_the_figures_of_some_tenants_can_be_kept_apart():
    tally = rollups.Tally()
    tally.add("acme", NOW_MS, "resize", "ok", 4)
    tally.add("globex", NOW_MS, "mail", "bad", 1)
    kept = tally.only({"globex"})
    assert list(kept.calls(settings.CODEQ_KV_PREFIX)) == ["globex"] and len(kept) == 1
