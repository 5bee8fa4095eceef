"""Command names: every spelling of a name reaches one queue, whatever its script or case."""

import sys
import unicodedata

import msgpack
import pytest

from codeq_platform.engine import NewTask, State, command_key
from codeq_platform.engine.store import connect as connect_store
from codeq_platform.errors import InvalidInput

T = "acme"

# (as sent by the producer, as named by the worker)
SPELLINGS = [
    ("Ärepro", "ärepro"),
    ("ärepro", "ÄREPRO"),
    ("İstanbul", "İSTANBUL"),
    ("Straße", "STRASSE"),
    ("STRAẞE", "strasse"),
    ("ΟΔΟΣ", "οδος"),
    ("Σίσυφος", "ΣΊΣΥΦΟΣ"),
    ("Mail-Ärger-Σ-日本", "mail-ärger-\u03c3-日本"),
    ("\uff4d\uff45\uff44\uff49\uff41.\uff32\uff45\uff53\uff49\uff5a\uff45", "media.resize"),  # full-width
    ("Media.Resize", "MEDIA.RESIZE"),
]


def test_ascii_names_keep_the_routing_form_they_always_had():
    every_ascii = "".join(chr(c) for c in range(0x21, 0x7F))
    assert command_key(every_ascii) == every_ascii.lower()
    assert command_key("Media.Resize") == "media.resize"


def test_the_routing_form_is_stable_under_a_second_pass():
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) in ("Cs", "Cn"):
            continue
        key = command_key(chr(code) + "x")
        assert command_key(key) == key, hex(code)


@pytest.mark.parametrize(("sent", "named"), SPELLINGS)
def test_a_task_is_claimed_under_any_spelling_of_its_command(engine, sent, named):
    task = engine.enqueue(T, NewTask(sent, {"n": 1})).task
    assert engine.queue_stats(T, named).ready == 1
    assert engine.commands(T) == [command_key(sent)]

    claimed = engine.claim(T, "w", [named])

    assert [t.id for t in claimed] == [task.id]
    assert claimed[0].command == sent and claimed[0].state is State.LEASED
    stats = engine.queue_stats(T, sent)
    assert (stats.ready, stats.in_flight) == (0, 1)


def test_a_non_ascii_task_goes_through_retry_expiry_dead_letter_and_replay(engine, clock):
    task = engine.enqueue(T, NewTask("Ärger", {}, max_attempts=2)).task
    engine.claim(T, "w", ["ÄRGER"])
    assert engine.nack(T, task.id, "w", delay_ms=0).delay_ms == 0
    engine.claim(T, "w", ["ärger"], lease_ms=1000)
    clock.advance(2)
    assert engine.sweep(T).expired == 1
    assert [t.id for t in engine.dlq(T, "ÄRGER").tasks] == [task.id]
    assert engine.replay(T, task.id).state is State.READY
    assert [t.id for t in engine.claim(T, "w", ["Ärger"])] == [task.id]
    engine.complete(T, task.id, "w", {"ok": True})
    stats = engine.queue_stats(T, "ärger")
    assert (stats.created, stats.completed, stats.dead, stats.ready, stats.in_flight) == (1, 1, 1, 0, 0)


def test_dedup_keys_meet_across_spellings(engine):
    first = engine.enqueue(T, NewTask("Straße", {}, dedup_key="k")).task
    again = engine.enqueue(T, NewTask("STRASSE", {}, dedup_key="k"))
    assert again.task.id == first.id and not again.created


# A full-width slash, an 18-letter ligature twelve times (216 letters), a no-break space.
@pytest.mark.parametrize("command", ["\uff41\uff0f\uff42", "\ufdfa" * 12, "a\u00a0b"])
def test_a_name_whose_routing_form_is_not_a_valid_command_is_refused(engine, command):
    with pytest.raises(InvalidInput) as refused:
        engine.enqueue(T, NewTask(command, {}))
    assert refused.value.field == "command"


def test_a_record_written_before_routing_forms_were_stored_is_still_claimed(engine, kv_url, config):
    task = engine.enqueue(T, NewTask("Media.Resize", {})).task
    tasks_key = f"{config.prefix}:{{t:{T}:0}}:tasks"
    with connect_store(kv_url) as raw:
        record = msgpack.unpackb(raw.hget(tasks_key, task.id))
        assert record[20] == "media.resize"
        raw.hset(tasks_key, task.id, msgpack.packb(record[:20]))

    claimed = engine.claim(T, "w", ["media.resize"])

    assert [t.id for t in claimed] == [task.id] and claimed[0].command_key == "media.resize"
    engine.complete(T, task.id, "w", {})
    assert engine.queue_stats(T, "MEDIA.RESIZE").completed == 1
