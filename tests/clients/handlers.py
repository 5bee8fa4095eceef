"""Handlers that ``codeq worker tests.clients.handlers`` runs in the suites' worker processes; each test
names its own commands through ``CODEQ_TEST_COMMAND``."""

from __future__ import annotations

import os
import time

import codeq

COMMAND = os.environ.get("CODEQ_TEST_COMMAND", "test")

app = codeq.App()


@app.task(f"{COMMAND}.sleep")
def sleep(job: codeq.Job) -> dict:
    """Sleeps ``payload["seconds"]`` on a thread, reporting progress first."""
    job.progress({"sleeping": job.payload["seconds"]})
    time.sleep(job.payload["seconds"])
    return {"slept": job.payload["seconds"]}


@app.task(f"{COMMAND}.noop")
async def noop(job: codeq.Job) -> None:
    return None


@app.task(f"{COMMAND}.reject", permanent=(ValueError,))
def reject(job: codeq.Job) -> None:
    raise ValueError(f"cannot use {job.payload!r}")
