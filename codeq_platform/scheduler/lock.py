"""A KV lock with a TTL that makes each job single-runner across scheduler processes.

The holder renews it on every run; a killed holder's lock lapses after its TTL and another process
takes over. Release and renewal only act on a lock this process still holds.
"""

from __future__ import annotations

import uuid

import redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class JobLock:
    """``acquire()`` is True while this process owns the named lock."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        if self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
            return True
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)
