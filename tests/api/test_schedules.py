"""PUT, GET and DELETE /v1/codeq/admin/schedules[/{name}]: create, replace, validation, tenants and roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api.calls import API_DB, BASE, get
from tests.api.conftest import bearer

pytestmark = API_DB

SPEC = {"cron": "*/5 * * * *", "command": "report.daily", "payload": {"kind": "summary"}}


async def put(http, token: str, name: str, body) -> object:
    if isinstance(body, bytes):
        return await http.put(f"{BASE}/admin/schedules/{name}", content=body, headers=bearer(token))
    return await http.put(f"{BASE}/admin/schedules/{name}", json=body, headers=bearer(token))


async def delete(http, token: str, name: str) -> object:
    return await http.delete(f"{BASE}/admin/schedules/{name}", headers=bearer(token))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_put_creates_a_schedule_with_defaults_and_its_next_slot(http, admin_bearer):
    r = await put(http, admin_bearer, "nightly", SPEC)

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "nightly" and body["tenantId"] == "acme" and body["version"] == 1
    assert body["spec"] == {
        "cron": "*/5 * * * *", "timezone": "UTC", "command": "report.daily", "payload": {"kind": "summary"},
        "priority": 0, "maxAttempts": 0, "webhook": "", "paused": False,
    }  # fmt: skip
    assert body["lastRunAt"] is None and body["lastTaskId"] is None
    next_run = _at(body["nextRunAt"])
    assert next_run > _at(body["createdAt"]) and next_run.minute % 5 == 0 and next_run.second == 0
    assert next_run - _at(body["createdAt"]) <= timedelta(minutes=5)
    assert (await get(http, "/admin/schedules/nightly", admin_bearer)).json() == body


async def test_an_identical_put_answers_200_and_keeps_the_version(http, admin_bearer):
    first = (await put(http, admin_bearer, "nightly", SPEC)).json()

    again = await put(http, admin_bearer, "nightly", {**SPEC, "timezone": "UTC", "priority": 0})

    assert again.status_code == 200
    assert again.json() == first


async def test_a_changed_spec_bumps_the_version_and_keeps_the_identity(http, admin_bearer):
    first = (await put(http, admin_bearer, "nightly", SPEC)).json()

    r = await put(http, admin_bearer, "nightly", {**SPEC, "priority": 7, "maxAttempts": 3})

    changed = r.json()
    assert r.status_code == 200
    assert changed["version"] == 2 and changed["scheduleId"] == first["scheduleId"]
    assert (changed["spec"]["priority"], changed["spec"]["maxAttempts"]) == (7, 3)
    assert changed["nextRunAt"] == first["nextRunAt"]  # same timing, same next slot
    assert changed["createdAt"] == first["createdAt"] and changed["updatedAt"] > first["updatedAt"]


async def test_a_payload_of_another_json_type_is_a_change(http, admin_bearer):
    await put(http, admin_bearer, "nightly", {**SPEC, "payload": {"n": 1}})

    r = await put(http, admin_bearer, "nightly", {**SPEC, "payload": {"n": True}})

    assert r.json()["version"] == 2 and r.json()["spec"]["payload"] == {"n": True}


async def test_pausing_clears_the_next_slot_and_resuming_starts_from_now(http, admin_bearer):
    await put(http, admin_bearer, "nightly", {**SPEC, "cron": "0 3 * * *", "timezone": "Europe/Berlin"})

    paused = (await put(http, admin_bearer, "nightly", {**SPEC, "cron": "0 3 * * *", "timezone": "Europe/Berlin",
                                                        "paused": True})).json()  # fmt: skip
    resumed = (await put(http, admin_bearer, "nightly", {**SPEC, "cron": "0 3 * * *",
                                                         "timezone": "Europe/Berlin"})).json()  # fmt: skip

    assert paused["nextRunAt"] is None and paused["spec"]["paused"] is True
    assert resumed["version"] == 3
    local = _at(resumed["nextRunAt"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (3, 0)


@pytest.mark.parametrize(
    ("cron", "zone"),
    [("@hourly", "UTC"), ("@every 30s", "UTC"), ("@every 1h30m", "UTC"), ("0 9 * * MON-FRI", "America/New_York")],
)
async def test_cron_forms_and_zones_are_accepted(http, admin_bearer, cron, zone):
    r = await put(http, admin_bearer, "job", {**SPEC, "cron": cron, "timezone": zone})

    assert r.status_code == 201, r.text
    assert r.json()["spec"]["cron"] == cron and r.json()["spec"]["timezone"] == zone


async def test_every_30s_fires_on_the_half_minute(http, admin_bearer):
    body = (await put(http, admin_bearer, "job", {**SPEC, "cron": "@every 30s"})).json()

    next_run = _at(body["nextRunAt"])
    assert next_run.second in (0, 30) and next_run.microsecond == 0
    assert timedelta(0) < next_run - _at(body["createdAt"]) <= timedelta(seconds=30)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "0 0 31 2 *"}, "cron"),
        ({"cron": "@reboot"}, "cron"),
        ({"cron": "@every 0s"}, "cron"),
        ({"cron": "CRON_TZ=UTC 0 * * * *"}, "cron"),
        ({"cron": ""}, "cron"),
        ({"cron": "0 0 * * " + "1," * 100 + "1"}, "cron"),
        ({"timezone": "Europe/" + "x" * 5000}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"command": "has space"}, "command"),
        ({"command": ""}, "command"),
        ({"priority": 10}, "priority"),
        ({"maxAttempts": 101}, "maxAttempts"),
        ({"maxAttempts": -1}, "maxAttempts"),
        ({"webhook": "ftp://example.com/hook"}, "webhook"),
        ({"webhook": "http://[::1/hook"}, "webhook"),
        ({"webhook": "http://example.com:99999/hook"}, "webhook"),
        ({"webhook": "http://example.com:0/hook"}, "webhook"),
    ],
)
async def test_a_well_formed_spec_that_cannot_run_is_422_naming_the_field(http, admin_bearer, change, field):
    r = await put(http, admin_bearer, "job", {**SPEC, **change})

    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["error"]
    assert (await get(http, "/admin/schedules/job", admin_bearer)).status_code == 404


@pytest.mark.parametrize("name", ["Upper", "-lead", "trail-", "a" * 64, "under_score"])
async def test_a_name_that_is_not_a_dns_label_is_422(http, admin_bearer, name):
    r = await put(http, admin_bearer, name, SPEC)

    assert r.status_code == 422 and r.json()["field"] == "name"


async def test_a_63_character_name_is_accepted(http, admin_bearer):
    assert (await put(http, admin_bearer, "a" * 63, SPEC)).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        {**SPEC, "tenantId": "globex"},
        {**SPEC, "priority": "5"},
        {**SPEC, "priority": 1.5},
        {**SPEC, "paused": "yes"},
        {**SPEC, "cron": 5},
        {**SPEC, "maxAttempts": True},
    ],
)
async def test_a_malformed_body_is_400(http, admin_bearer, body):
    r = await put(http, admin_bearer, "job", body)

    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_input"


async def test_a_payload_above_the_tenants_limit_is_422(http, admin_bearer):
    r = await put(http, admin_bearer, "job", {**SPEC, "payload": {"blob": "x" * (256 * 1024)}})

    assert r.status_code == 422 and r.json()["field"] == "payload"


async def test_a_payload_keeps_integers_beyond_64_bits(http, admin_bearer):
    body = b'{"cron": "@daily", "command": "cleanup", "payload": {"id": 123456789012345678901234567890}}'

    created = await put(http, admin_bearer, "job", body)
    again = await put(http, admin_bearer, "job", body)

    assert created.status_code == 201 and again.status_code == 200 and again.json()["version"] == 1
    assert b'"id":123456789012345678901234567890' in again.content


async def test_an_absent_payload_is_an_empty_object(http, admin_bearer):
    r = await put(http, admin_bearer, "job", {"cron": "@daily", "command": "cleanup"})

    assert r.status_code == 201 and r.json()["spec"]["payload"] == {}


async def test_list_shows_the_tenants_schedules_by_name(http, admin_bearer, foreign_bearer):
    for name in ("zeta", "alpha"):
        await put(http, admin_bearer, name, SPEC)
    await put(http, foreign_bearer, "theirs", SPEC)

    r = await get(http, "/admin/schedules", admin_bearer)

    assert r.status_code == 200
    assert [s["name"] for s in r.json()["schedules"]] == ["alpha", "zeta"]


async def test_another_tenants_schedule_is_absent(http, admin_bearer, foreign_bearer):
    await put(http, admin_bearer, "nightly", SPEC)

    assert (await get(http, "/admin/schedules/nightly", foreign_bearer)).status_code == 404
    assert (await get(http, "/admin/schedules", foreign_bearer)).json() == {"schedules": []}
    assert (await delete(http, foreign_bearer, "nightly")).status_code == 204
    created = await put(http, foreign_bearer, "nightly", {**SPEC, "priority": 9})
    assert created.status_code == 201
    ours = (await get(http, "/admin/schedules/nightly", admin_bearer)).json()
    assert ours["spec"]["priority"] == 0 and ours["scheduleId"] != created.json()["scheduleId"]


async def test_delete_removes_the_schedule_and_answers_204_when_absent(http, admin_bearer):
    await put(http, admin_bearer, "nightly", SPEC)

    first, second = await delete(http, admin_bearer, "nightly"), await delete(http, admin_bearer, "nightly")

    assert (first.status_code, second.status_code) == (204, 204) and first.content == b""
    r = await get(http, "/admin/schedules/nightly", admin_bearer)
    assert r.status_code == 404 and r.json()["error"] == "schedule not found"


async def test_producers_and_workers_get_403(http, producer_bearer, worker_bearer):
    for token in (producer_bearer, worker_bearer):
        assert (await put(http, token, "nightly", SPEC)).status_code == 403
        assert (await get(http, "/admin/schedules", token)).status_code == 403
        assert (await get(http, "/admin/schedules/nightly", token)).status_code == 403
        assert (await delete(http, token, "nightly")).status_code == 403


async def test_no_token_gets_401(http):
    assert (await http.get(f"{BASE}/admin/schedules")).status_code == 401


async def test_other_methods_get_405(http, admin_bearer):
    r = await http.post(f"{BASE}/admin/schedules/nightly", json=SPEC, headers=bearer(admin_bearer))

    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"DELETE", "GET", "PUT"}


async def test_a_name_holding_a_nul_is_absent_on_get_and_delete(http, admin_bearer):
    assert (await get(http, "/admin/schedules/a%00b", admin_bearer)).status_code == 404
    assert (await delete(http, admin_bearer, "a%00b")).status_code == 204


async def test_a_payload_holding_a_nul_is_422_naming_the_payload(http, admin_bearer):
    r = await put(http, admin_bearer, "nul", {**SPEC, "payload": {"k": "a\u0000b"}})

    assert r.status_code == 422 and r.json()["field"] == "payload"
    assert (await get(http, "/admin/schedules/nul", admin_bearer)).status_code == 404
