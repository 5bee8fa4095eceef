"""Every route's static type on both faces, as mypy reveals it: on ``Client`` a method returning the answer,
on ``AsyncClient`` the same method returning a coroutine of that answer (``typed_faces.py``, checked in
``make lint``, spells out a few; this covers every route, including ones added later)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import codeq
from codeq.client import Routes, route

ROOT = Path(__file__).resolve().parents[2]
ROUTES = sorted(name for name, member in vars(Routes).items() if isinstance(member, route))


def revealed_types(tmp_path: Path) -> dict[tuple[str, str], str]:
    lines = ["import codeq", "", "", "def faces(sync: codeq.Client, face: codeq.AsyncClient) -> None:"]
    probes: dict[int, tuple[str, str]] = {}  # line number: (face, route)
    for name in ROUTES:
        for face in ("sync", "face"):
            lines.append(f"    reveal_type({face}.{name})")
            probes[len(lines)] = (face, name)
    source = tmp_path / "faces.py"
    source.write_text("\n".join(lines) + "\n")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file=", "--no-error-summary",
                          "--cache-dir", str(tmp_path / "cache"), str(source)], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "MYPYPATH": str(ROOT / "clients" / "python")})  # fmt: skip
    found = re.findall(r'^faces\.py:(\d+): note: Revealed type is "(.*)"$', run.stdout, re.MULTILINE)
    assert len(found) == 2 * len(ROUTES), run.stdout + run.stderr
    return {probes[int(number)]: revealed for number, revealed in found}


def signature(revealed: str) -> tuple[str, str]:
    """``def (params) -> answer`` split in two; mypy leaves out ``-> None``."""
    params, arrow, answer = revealed.rpartition(") -> ")
    return (params + ")", answer) if arrow else (revealed, "None")


def test_every_async_route_is_typed_as_a_coroutine_of_the_sync_routes_answer(tmp_path):
    revealed = revealed_types(tmp_path)
    assert len(ROUTES) >= 40  # every route of the API; none lost from the table
    for name in ROUTES:
        params, answer = signature(revealed["sync", name])
        assert params.startswith("def (") and not answer.startswith("typing.Coroutine"), (name, answer)
        assert revealed["face", name] == f"{params} -> typing.Coroutine[Any, Any, {answer}]", name


def test_help_shows_each_faces_answer_not_the_call_it_builds():
    sync, face = codeq.Client("http://127.0.0.1:9"), codeq.AsyncClient("http://127.0.0.1:9")
    for name in ROUTES:
        answer = inspect.signature(getattr(sync, name)).return_annotation
        assert "Call" not in answer, name
        assert inspect.signature(getattr(face, name)).return_annotation == f"Coroutine[Any, Any, {answer}]", name
        assert list(inspect.signature(getattr(sync, name)).parameters)[:1] != ["self"], name
    assert inspect.signature(sync.get).return_annotation == "Task"
    assert inspect.signature(face.claim).return_annotation == "Coroutine[Any, Any, Task | None]"
