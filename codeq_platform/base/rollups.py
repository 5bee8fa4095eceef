"""Bounded rollups of a tenant's queue figures: completed and failed, wait and run time, depth, claims.

Every figure lands in buckets of three lengths at once, each bucket one hash in the store that expires
by itself, so what the store holds is bounded by time, never by traffic:

=====  =============  =========================  ==========================
name   bucket length  kept (TTL)                 serves the window
=====  =============  =========================  ==========================
``m``  1 minute       2 h 5 min                  1 h (60 buckets)
``t``  10 minutes     25 h                       24 h (144 buckets)
``h``  1 hour         7 d 2 h                    7 d (168 buckets)
=====  =============  =========================  ==========================

A bucket's fields are ``<scope>|<figure>``: the scope is a command's routing form, or ``/`` for the
whole tenant (no command contains ``/``); the figure is ``ok`` (completed), ``bad`` (failed or
dead-lettered), ``w<i>`` / ``r<i>`` (the count of wait / run times in histogram bin ``i``) or ``d``
(the ready depth last seen in the bucket). A worker's claims are ``/w/<worker>|n`` in minute buckets
only. Percentiles are read from the fixed bins (``BOUNDS_MS``), interpolated inside a bin as
Prometheus' ``histogram_quantile`` does, so they are estimates whose error is bounded by a bin's width.

Counts are added with ``HINCRBY`` and depths set with ``HSET``, each bucket then given its TTL: a
flush is a pipeline of plain commands to one slot per tenant, and buckets flushed by several
processes add up.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

from codeq_platform.engine.keys import rollup_key, workers_key
from codeq_platform.errors import StoreUnavailable

ALL = "/"
# Upper bounds (ms) of the histogram bins; one more bin holds everything above the last.
BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
             3_600_000)  # fmt: skip
WORKERS_TTL_SECONDS = 24 * 3600
# The workers page lists those seen within this time; older rows are dropped when it reads them.
WORKER_GONE_SECONDS = 3600


@dataclass(frozen=True)
class Resolution:
    name: str
    seconds: int
    ttl_seconds: int


MINUTE = Resolution("m", 60, 2 * 3600 + 300)
TEN_MINUTES = Resolution("t", 600, 25 * 3600)
HOUR = Resolution("h", 3600, 7 * 86400 + 2 * 3600)
RESOLUTIONS = (MINUTE, TEN_MINUTES, HOUR)
# window name -> (resolution, buckets shown)
WINDOWS = {"1h": (MINUTE, 60), "24h": (TEN_MINUTES, 144), "7d": (HOUR, 168)}


def bin_of(ms: int) -> int:
    """The histogram bin of a duration: the first whose upper bound is at least ``ms``."""
    return bisect.bisect_left(BOUNDS_MS, max(ms, 0))


def percentile(bins: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of the durations counted in ``bins``, in ms; None without any.

    Linear inside the bin where the rank falls (its lower bound is the previous bin's upper bound, 0
    for the first); the rank falling in the open last bin answers that bin's lower bound.
    """
    total = sum(bins)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(bins):
        if n and seen + n >= rank:
            lower = BOUNDS_MS[i - 1] if i else 0
            if i >= len(BOUNDS_MS):
                return float(lower)
            return lower + (BOUNDS_MS[i] - lower) * (rank - seen) / n
        seen += n
    return float(BOUNDS_MS[-1])


_BIN_NAMES = {figure: tuple(f"{figure}{i}" for i in range(len(BOUNDS_MS) + 1)) for figure in ("w", "r")}


class Tally:
    """Figures added up in memory until a flush turns them into store commands: one flat counter keyed by
    (tenant, minute, scope, figure), so adding one is a single dictionary update."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int, str, str]] = Counter()

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, tenant: str, at_ms: int, scope: str, figure: str, n: int = 1) -> None:
        self.counts[tenant, at_ms // 60_000, scope, figure] += n

    def duration(self, tenant: str, at_ms: int, command: str, figure: str, ms: int) -> None:
        """One wait (``figure`` ``w``) or run (``r``) time of ``command``, counted for it and the tenant."""
        name = _BIN_NAMES[figure][bin_of(ms)]
        minute = at_ms // 60_000
        self.counts[tenant, minute, command, name] += 1
        self.counts[tenant, minute, ALL, name] += 1

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)

    def only(self, tenants: set[str]) -> Tally:
        """The figures of ``tenants`` alone."""
        kept = Tally()
        kept.counts.update({key: n for key, n in self.counts.items() if key[0] in tenants})
        return kept

    def drop_oldest_minute(self) -> int:
        """Forget the oldest minute's figures (of every tenant); returns how many samples went."""
        oldest = min(minute for _, minute, _, _ in self.counts)
        gone = [key for key in self.counts if key[1] == oldest]
        return sum(self.counts.pop(key) for key in gone)

    def calls(self, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
        """Per tenant, the commands that add these figures to every resolution's buckets."""
        buckets: dict[str, dict[tuple[Resolution, int], Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        for (tenant, minute, scope, figure), n in self.counts.items():
            for res in RESOLUTIONS if not scope.startswith("/w/") else (MINUTE,):
                buckets[tenant][res, minute * 60 // res.seconds][f"{scope}|{figure}"] += n
        out: dict[str, list[tuple[Any, ...]]] = {}
        for tenant, by_bucket in buckets.items():
            calls: list[tuple[Any, ...]] = []
            for (res, bucket), counter in by_bucket.items():
                key = rollup_key(prefix, tenant, res.name, bucket)
                calls += [("HINCRBY", key, name, n) for name, n in counter.items()]
                calls.append(("EXPIRE", key, res.ttl_seconds))
            out[tenant] = calls
        return out


def depth_calls(prefix: str, tenant: str, at_ms: int, depths: dict[str, int]) -> list[tuple[Any, ...]]:
    """The commands that set the ready depth of each command (and of the tenant, their sum) in the
    buckets holding ``at_ms``."""
    fields: list[Any] = []
    for command, depth in depths.items():
        fields += [f"{command}|d", depth]
    fields += [f"{ALL}|d", sum(depths.values())]
    calls: list[tuple[Any, ...]] = []
    for res in RESOLUTIONS:
        key = rollup_key(prefix, tenant, res.name, at_ms // 1000 // res.seconds)
        calls += [("HSET", key, *fields), ("EXPIRE", key, res.ttl_seconds)]
    return calls


@dataclass
class Window:
    """The buckets of one window, oldest first: their start times and their fields."""

    name: str
    seconds: int
    starts_ms: list[int]
    buckets: list[dict[str, int]]

    def counts(self, scope: str, figure: str) -> list[int]:
        return [b.get(f"{scope}|{figure}", 0) for b in self.buckets]

    def failure_rate(self, scope: str) -> list[float | None]:
        """Failed out of finished per bucket, in percent; None where nothing finished."""
        rates: list[float | None] = []
        for ok, bad in zip(self.counts(scope, "ok"), self.counts(scope, "bad"), strict=True):
            rates.append(100 * bad / (ok + bad) if ok + bad else None)
        return rates

    def per_minute(self, scope: str, figure: str) -> list[float]:
        """A count per bucket as a rate per minute (a 10-minute bucket of 50 is 5 a minute)."""
        minutes = self.seconds / 60
        return [n / minutes for n in self.counts(scope, figure)]

    def percentiles(self, scope: str, figure: str, q: float) -> list[float | None]:
        names = [f"{scope}|{figure}{i}" for i in range(len(BOUNDS_MS) + 1)]
        return [percentile([b.get(name, 0) for name in names], q) for b in self.buckets]

    def overall_percentile(self, scope: str, figure: str, q: float) -> float | None:
        """The quantile over the whole window (the bins of every bucket added up)."""
        return percentile([sum(b.get(f"{scope}|{figure}{i}", 0) for b in self.buckets)
                           for i in range(len(BOUNDS_MS) + 1)], q)  # fmt: skip

    def depths(self, scope: str) -> list[int | None]:
        """The ready depth per bucket; a bucket where the scheduler wrote none (nothing changed) carries
        the previous one forward, and buckets before the first known depth have none."""
        out: list[int | None] = []
        last = None
        for b in self.buckets:
            last = b.get(f"{scope}|d", last)
            out.append(last)
        return out


def _unavailable(exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"the queue store is unavailable: {exc}")


def scope_fields(scope: str) -> list[str]:
    """Every field a bucket may hold for one scope (a command's routing form, or ``ALL``)."""
    bins = range(len(BOUNDS_MS) + 1)
    return [f"{scope}|{figure}" for figure in ("ok", "bad", "d", *(f"w{i}" for i in bins), *(f"r{i}" for i in bins))]


def read_window(link: Any, prefix: str, tenant: str, window: str, now_ms: int, scopes: Sequence[str]) -> Window:
    """The buckets of ``window`` (``1h``, ``24h``, ``7d``) ending with the one holding ``now_ms``, with the
    fields of ``scopes`` only, read in one pipeline through a sync engine's link (``StoreUnavailable``
    when the store does not answer). A read costs the same however many commands the tenant has."""
    res, count = WINDOWS[window]
    last = now_ms // 1000 // res.seconds
    buckets = list(range(last - count + 1, last + 1))
    fields = [name for scope in scopes for name in scope_fields(scope)]
    try:
        replies = link.execute_many([("HMGET", rollup_key(prefix, tenant, res.name, b), *fields) for b in buckets])
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc
    values = [{name: int(v) for name, v in zip(fields, reply, strict=True) if v is not None} for reply in replies]
    return Window(window, res.seconds, [b * res.seconds * 1000 for b in buckets], values)


@dataclass
class WorkerSeen:
    """A worker as the web processes last saw it: its token, and what its client says about itself."""

    token_id: int
    token_name: str
    instance: str = ""
    host: str = ""
    pid: str = ""
    in_flight: int | None = None
    seen_ms: int = 0
    claims_per_minute: list[int] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.token_id}/{self.instance}"

    def dumps(self) -> bytes:
        return orjson.dumps({"token": self.token_id, "name": self.token_name, "instance": self.instance,
                             "host": self.host, "pid": self.pid, "inFlight": self.in_flight,
                             "seen": self.seen_ms})  # fmt: skip


def worker_calls(prefix: str, tenant: str, workers: Sequence[WorkerSeen]) -> list[tuple[Any, ...]]:
    key = workers_key(prefix, tenant)
    fields: list[Any] = []
    for w in workers:
        fields += [w.key, w.dumps()]
    return [("HSET", key, *fields), ("EXPIRE", key, WORKERS_TTL_SECONDS)] if fields else []


def read_workers(link: Any, prefix: str, tenant: str, now_ms: int) -> list[WorkerSeen]:
    """The workers seen within ``WORKER_GONE_SECONDS``, last seen first, each with its claims in the
    last five minutes (oldest first); rows older than that are removed from the store."""
    try:
        return _read_workers(link, prefix, tenant, now_ms)
    except redis.RedisError as exc:
        raise _unavailable(exc) from exc


def _read_workers(link: Any, prefix: str, tenant: str, now_ms: int) -> list[WorkerSeen]:
    key = workers_key(prefix, tenant)
    reply = link.execute(("HGETALL", key))
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    workers, gone = [], []
    for name, raw in pairs:
        row = orjson.loads(raw)
        if now_ms - row["seen"] > WORKER_GONE_SECONDS * 1000:
            gone.append(name)
            continue
        workers.append(WorkerSeen(row["token"], row["name"], row["instance"], row["host"], row["pid"],
                                  row["inFlight"], row["seen"]))  # fmt: skip
    if gone:
        link.execute(("HDEL", key, *gone))
    minute = now_ms // 60_000
    minutes = list(range(minute - 4, minute + 1))
    if workers:
        replies = link.execute_many([("HMGET", rollup_key(prefix, tenant, MINUTE.name, m),
                                      *[f"/w/{w.key}|n" for w in workers]) for m in minutes])  # fmt: skip
        for i, w in enumerate(workers):
            w.claims_per_minute = [int(r[i] or 0) for r in replies]
    return sorted(workers, key=lambda w: -w.seen_ms)
