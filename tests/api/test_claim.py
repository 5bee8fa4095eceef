"""POST /v1/codeq/tasks/claim: one task under an exclusive lease, or 204."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from tests.api.calls import API_DB, claim, create, get, post

pytestmark = API_DB


def lease_seconds_left(task: dict) -> float:
    return datetime.strptime(task["leaseUntil"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() - time.time()


async def test_claim_gives_the_task_in_progress_with_a_lease(http, producer_bearer, worker_bearer):
    created = await create(http, producer_bearer, "resize", {"w": 640})

    r = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})

    assert r.status_code == 200
    task = r.json()
    assert task["id"] == created["id"] and task["status"] == "IN_PROGRESS" and task["attempts"] == 1
    assert task["workerId"].startswith("token:") and 295 <= lease_seconds_left(task) <= 301
    assert json.loads(task["payload"]) == {"w": 640}
    seen = (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()
    assert seen["status"] == "IN_PROGRESS" and seen["workerId"] == task["workerId"]


async def test_empty_queue_answers_204_with_no_body(http, worker_bearer):
    r = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})

    assert r.status_code == 204 and r.content == b""


async def test_a_claimed_task_is_not_claimed_twice(http, producer_bearer, worker_bearer):
    await create(http, producer_bearer)
    await claim(http, worker_bearer)

    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204


async def test_claim_returns_highest_priority_first_then_fifo(http, producer_bearer, worker_bearer):
    low = await create(http, producer_bearer, priority=0)
    first_high = await create(http, producer_bearer, priority=9)
    second_high = await create(http, producer_bearer, priority=9)
    middle = await create(http, producer_bearer, priority=5)

    order = [(await claim(http, worker_bearer))["id"] for _ in range(4)]

    assert order == [first_high["id"], second_high["id"], middle["id"], low["id"]]


async def test_commands_match_case_insensitively(http, producer_bearer, worker_bearer):
    created = await create(http, producer_bearer, "Media.Resize")

    task = await claim(http, worker_bearer, "MEDIA.RESIZE")

    assert task["id"] == created["id"] and task["command"] == "Media.Resize"


@pytest.mark.parametrize(
    ("sent", "named"),
    [("Ärepro", "Ärepro"), ("Ärepro", "ärepro"), ("İstanbul", "İSTANBUL"), ("Straße", "STRASSE"), ("ΟΔΟΣ", "οδος"),
     ("Mail-Ärger-Σ-日本", "MAIL-ÄRGER-ς-日本")],
)  # fmt: skip
async def test_non_ascii_commands_match_in_any_case(http, producer_bearer, worker_bearer, admin_bearer, sent, named):
    created = await create(http, producer_bearer, sent)
    queue = await get(http, f"/admin/queues/{quote(named)}", admin_bearer)
    assert queue.status_code == 200 and queue.json()["ready"] == 1

    task = await claim(http, worker_bearer, named)

    assert task["id"] == created["id"] and task["command"] == sent
    assert (await get(http, f"/admin/queues/{quote(sent)}", admin_bearer)).json()["ready"] == 0


@pytest.mark.parametrize("sent", ["Ärepro", "İstanbul", "ß", "Σ"])
async def test_claim_without_commands_takes_a_non_ascii_command(http, producer_bearer, worker_bearer, sent):
    created = await create(http, producer_bearer, sent)

    r = await post(http, "/tasks/claim", worker_bearer, {})

    assert r.status_code == 200 and r.json()["id"] == created["id"]


async def test_claim_takes_only_the_commands_asked_for(http, producer_bearer, worker_bearer):
    await create(http, producer_bearer, "email")

    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204
    assert (await claim(http, worker_bearer, "resize", "email"))["command"] == "email"


@pytest.mark.parametrize("body", [None, {}, {"commands": []}])
async def test_claim_without_commands_takes_from_any_command(http, producer_bearer, worker_bearer, body):
    created = await create(http, producer_bearer, "email")

    r = await post(http, "/tasks/claim", worker_bearer, body)

    assert r.status_code == 200 and r.json()["id"] == created["id"]


async def test_admin_claims_under_its_own_identity(http, producer_bearer, admin_bearer, worker_bearer):
    await create(http, producer_bearer)
    by_admin = await claim(http, admin_bearer)
    await create(http, producer_bearer)
    by_worker = await claim(http, worker_bearer)

    assert by_admin["workerId"] != by_worker["workerId"]


async def test_producer_may_not_claim(http, producer_bearer):
    r = await post(http, "/tasks/claim", producer_bearer, {})

    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_foreign_tenant_never_claims_our_tasks(http, producer_bearer, foreign_bearer):
    await create(http, producer_bearer)

    assert (await post(http, "/tasks/claim", foreign_bearer, {"commands": ["resize"]})).status_code == 204
    assert (await post(http, "/tasks/claim", foreign_bearer, {})).status_code == 204


@pytest.mark.parametrize(("lease", "expected"), [(1, 1), (43200, 43200), (0, 300), (None, 300)])
async def test_lease_seconds_from_1_to_43200_and_0_means_300(http, producer_bearer, worker_bearer, lease, expected):
    await create(http, producer_bearer)

    task = await claim(http, worker_bearer, leaseSeconds=lease)

    assert expected - 2 <= lease_seconds_left(task) <= expected + 1


BAD_CLAIMS = [
    {"leaseSeconds": 43201},
    {"leaseSeconds": -1},
    {"leaseSeconds": "5"},
    {"leaseSeconds": 1.5},
    {"leaseSeconds": True},
    {"waitSeconds": 31},
    {"waitSeconds": -1},
    {"waitSeconds": "1"},
    {"commands": "resize"},
    {"commands": [1]},
    {"commands": ["a b"]},
    {"commands": [""]},
    {"commands": ["x"] * 101},
]


async def test_bad_claim_is_a_400_and_claims_nothing(http, producer_bearer, worker_bearer):
    await create(http, producer_bearer)

    for body in BAD_CLAIMS:
        r = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"], **body})
        assert r.status_code == 400 and isinstance(r.json()["error"], str), body

    assert (await claim(http, worker_bearer))["attempts"] == 1


@pytest.mark.parametrize("wait", [0, 30])
async def test_wait_seconds_up_to_30_is_accepted_and_returns_at_once_when_work_is_there(
    http, producer_bearer, worker_bearer, wait
):
    await create(http, producer_bearer)
    started = time.monotonic()

    task = await claim(http, worker_bearer, waitSeconds=wait)

    assert task["status"] == "IN_PROGRESS" and time.monotonic() - started < 1


async def test_long_poll_on_an_empty_queue_answers_204_after_the_wait(http, worker_bearer):
    started = time.monotonic()

    r = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"], "waitSeconds": 1})

    assert r.status_code == 204 and 0.9 <= time.monotonic() - started < 2.5


async def test_delayed_task_is_not_claimable_yet(http, producer_bearer, worker_bearer):
    await create(http, producer_bearer, delaySeconds=60)

    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204
