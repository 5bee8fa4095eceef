"""When a recurring schedule fires: five-field cron rules, ``@hourly``-style aliases and ``@every <duration>``.

Cron rules are evaluated by croniter in the schedule's IANA zone (zoneinfo), so a slot is a wall-clock time
of that zone: across a spring-forward gap a slot inside the gap fires at the first valid time after it, and
across a fall-back overlap a rule with fixed hours fires once (at the first of the two equal wall-clock
times), while a rule that runs every hour keeps running through the repeated hour, as Vixie cron does.

``@every`` intervals count from the Unix epoch, not from when the schedule was written: ``@every 30s``
fires at :00 and :30 of every minute and ``@every 1h`` on every UTC hour, whichever process computes it.

Every instant going in or out is timezone-aware; slots come out in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from codeq_platform.errors import InvalidSchedule

ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
EVERY_RE = re.compile(r"@every\s+((?:\d+[hms])+)")
DURATION_PART_RE = re.compile(r"(\d+)([hms])")
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
MAX_EVERY_SECONDS = 366 * 86400
MAX_RULE_LENGTH = 200  # the columns holding them
MAX_ZONE_LENGTH = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DST_MARGIN = timedelta(hours=2)


@dataclass(frozen=True)
class Timing:
    """A parsed rule in its zone. Use ``parse``."""

    expression: str
    zone: ZoneInfo
    every_seconds: int = 0
    # A rule with fixed hours fires once in a fall-back overlap; one whose hour field is '*' means
    # "every hour" and fires in the repeated hour too.
    fixed_hours: bool = False

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after ``moment``."""
        if self.every_seconds:
            elapsed = (moment - EPOCH) // timedelta(seconds=self.every_seconds)
            return EPOCH + timedelta(seconds=(elapsed + 1) * self.every_seconds)
        slots = croniter(self.expression, moment.astimezone(self.zone))
        while True:
            slot = slots.get_next(datetime)
            if not (self.fixed_hours and self._repeated(slot)):
                return slot.astimezone(UTC)

    def latest_at(self, moment: datetime) -> datetime:
        """The last slot at or before ``moment``."""
        if self.every_seconds:
            elapsed = (moment - EPOCH) // timedelta(seconds=self.every_seconds)
            return EPOCH + timedelta(seconds=elapsed * self.every_seconds)
        # croniter's get_prev marks its answers fold=1, so near a DST change its instant may be an hour
        # off: take it as a hint and walk forward with get_next, whose folds are right.
        hint = croniter(self.expression, moment.astimezone(self.zone)).get_prev(datetime).astimezone(UTC)
        latest, cursor = hint, min(hint, moment) - DST_MARGIN
        while (slot := self.next_after(cursor)) <= moment:
            latest = cursor = slot
        return latest

    @staticmethod
    def _repeated(slot: datetime) -> bool:
        """True for the second of two equal wall-clock times of a fall-back overlap."""
        first, second = slot.replace(fold=0), slot.replace(fold=1)
        return first.utcoffset() != second.utcoffset() and slot.utcoffset() == second.utcoffset()


def parse(expression: str, time_zone: str) -> Timing:
    """Check ``expression`` in ``time_zone`` and return its timing; raises InvalidSchedule naming the field."""
    try:
        zone = ZoneInfo(time_zone) if len(time_zone) <= MAX_ZONE_LENGTH else None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        zone = None
    if zone is None:
        raise InvalidSchedule(f"unknown time zone {time_zone[:MAX_ZONE_LENGTH]!r} (use an IANA name)", field="timezone")
    rule = " ".join(expression.split())
    if len(rule) > MAX_RULE_LENGTH:
        raise InvalidSchedule(f"a cron rule has at most {MAX_RULE_LENGTH} characters", field="cron")
    if rule.upper().startswith(("CRON_TZ=", "TZ=")):
        raise InvalidSchedule("the cron rule must not embed a time zone; use 'timezone'", field="cron")
    every = EVERY_RE.fullmatch(rule)
    if every:
        seconds = sum(int(n) * UNIT_SECONDS[unit] for n, unit in DURATION_PART_RE.findall(every.group(1)))
        if not 1 <= seconds <= MAX_EVERY_SECONDS:
            raise InvalidSchedule("an @every interval is from 1s to 366 days", field="cron")
        return Timing(rule, zone, seconds)
    if rule.startswith("@"):
        if rule.lower() not in ALIASES:
            raise InvalidSchedule(
                f"unknown cron alias {rule!r} (use {', '.join(sorted(ALIASES))} or @every <duration>)", field="cron"
            )
        rule = rule.lower()
    elif len(rule.split()) != 5:
        raise InvalidSchedule("a cron rule has 5 fields: minute hour day-of-month month day-of-week", field="cron")
    try:
        timing = Timing(rule, zone, fixed_hours=croniter(rule).expanded[1] != ["*"])
        timing.next_after(datetime.now(UTC))
    except CroniterError as exc:
        raise InvalidSchedule(f"invalid cron rule: {exc}", field="cron") from None
    return timing
