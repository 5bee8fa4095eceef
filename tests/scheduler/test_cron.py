"""Schedule timing: cron forms, ``@every`` intervals, zones and DST, and the rules refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from codeq_platform.errors import InvalidSchedule
from codeq_platform.scheduler import cron

NOON = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rule", "zone", "after", "expected"),
    [
        ("*/15 * * * *", "UTC", NOON, NOON + timedelta(minutes=15)),
        ("@hourly", "UTC", NOON, NOON + timedelta(hours=1)),
        ("@DAILY", "UTC", NOON, datetime(2026, 6, 2, tzinfo=UTC)),
        ("@every 30s", "UTC", NOON + timedelta(seconds=10), NOON + timedelta(seconds=30)),
        ("@every 1h30m", "UTC", NOON, NOON + timedelta(hours=1, minutes=30)),
        ("0 9 * * MON-FRI", "Asia/Tokyo", NOON, datetime(2026, 6, 2, 0, 0, tzinfo=UTC)),
        ("0 0 29 2 *", "UTC", NOON, datetime(2028, 2, 29, tzinfo=UTC)),
    ],
)
def test_the_next_slot_follows_the_rule_in_its_zone(rule, zone, after, expected):
    assert cron.parse(rule, zone).next_after(after) == expected


def test_the_latest_slot_includes_the_moment_itself():
    timing = cron.parse("*/15 * * * *", "UTC")

    assert timing.latest_at(NOON) == NOON
    assert timing.latest_at(NOON - timedelta(microseconds=1)) == NOON - timedelta(minutes=15)


@pytest.mark.parametrize("rule", ["30 2 * * *", "*/30 * * * *", "0 * * * *", "@every 45m"])
@pytest.mark.parametrize("start", [datetime(2026, 3, 28, 20, tzinfo=UTC), datetime(2026, 10, 24, 20, tzinfo=UTC)])
def test_latest_and_next_agree_across_a_dst_change(rule, start):
    timing = cron.parse(rule, "Europe/Berlin")
    moment = start
    for _ in range(12):
        slot = timing.next_after(moment)
        assert slot > moment and timing.latest_at(slot) == slot
        assert timing.latest_at(slot - timedelta(seconds=1)) <= moment
        moment = slot


@pytest.mark.parametrize(
    ("rule", "zone", "field"),
    [
        ("* * * * * *", "UTC", "cron"),
        ("@reboot", "UTC", "cron"),
        ("@every 500ms", "UTC", "cron"),
        ("@every 367d", "UTC", "cron"),
        ("TZ=Europe/Paris 0 * * * *", "UTC", "cron"),
        ("0 0 30 2 *", "UTC", "cron"),
        ("0 0 * * *", "Europe/Nowhere", "timezone"),
        ("0 0 * * *", "", "timezone"),
    ],
)
def test_rules_that_cannot_run_are_refused_naming_the_field(rule, zone, field):
    with pytest.raises(InvalidSchedule) as refused:
        cron.parse(rule, zone)

    assert refused.value.field == field
