"""``deploy/`` without a container engine: every file is parsed and checked against the code it runs.

- the image carries every Django app, ``manage.py`` and the top-level ``templates/`` and ``static/``;
- every command a container runs exists: ``manage.py`` commands, the ASGI application path, the URL
  a health check fetches;
- every environment variable set for the platform's containers is one the code reads;
- ports and host names agree between the image, the compose file, the Kubernetes manifests and the
  KVRocks configuration;
- the scheduler runs as two replicas (the KV lock keeps each job single-runner), the web tier scales;
- ``deploy/kvrocks.conf`` starts the KVRocks the suites test (no unknown option) and serves the engine.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import resolve

from codeq_platform.engine import Engine, EngineConfig, NewTask, State, connect
from tests.engine._redis_servers import KvrocksProcess

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
APP_IMAGES = ("codeq-platform:latest", "codeq-platform:local")
# Read by the Python interpreter itself, not by the platform's code.
INTERPRETER_VARIABLES = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def manifests() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def manifest(kind: str, name: str) -> dict:
    return next(m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name)


def pod_containers() -> Iterator[dict]:
    for m in manifests():
        spec = m.get("spec", {}).get("template", {}).get("spec")
        if spec:
            yield from spec["containers"]


def app_services() -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items() if s.get("image") in APP_IMAGES}


def image_cmd() -> list[str]:
    return next(ast.literal_eval(args) for op, args in dockerfile() if op == "CMD")


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def check_command(argv: list[str] | str) -> None:
    """Fail unless ``argv`` runs something the platform has."""
    if isinstance(argv, str):
        argv = shlex.split(argv)
    if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        for part in argv[2].split("&&"):
            check_command(part.strip())
    elif argv[:2] == ["python", "manage.py"]:
        assert argv[2] in get_commands(), f"manage.py has no command {argv[2]!r}"
    elif argv[0] in ("granian", "uvicorn"):
        module, _, attribute = argv[-1].partition(":")
        assert hasattr(importlib.import_module(module), attribute), f"{argv[-1]} is not an application"
    elif argv[:2] == ["python", "-c"]:
        compile(argv[2], "<health check>", "exec")
        for url in re.findall(r"https?://[^'\"\s]+", argv[2]):
            parts = urlsplit(url)
            assert parts.port == web_port(), f"{url} is not the web port"
            resolve(parts.path)
    else:
        pytest.fail(f"unknown command {argv}")


def web_port() -> int:
    return int(option(image_cmd(), "--port"))


def read_variables() -> set[str]:
    """Every environment variable the platform's code reads."""
    pattern = re.compile(r"""os\.(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z0-9_]+)["']""")
    found: set[str] = set()
    for package in ("codeq_platform", "tenants", "dashboard"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(pattern.findall(path.read_text()))
    found.update(pattern.findall((ROOT / "manage.py").read_text()))
    return found


def kvrocks_conf() -> dict[str, str]:
    lines = (DEPLOY / "kvrocks.conf").read_text().splitlines()
    return dict(line.split(None, 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_image_carries_every_app_manage_py_and_the_top_level_folders():
    copies = [args.split() for op, args in dockerfile() if op == "COPY"]
    assert [".", "."] in copies, "the image copies the whole build context"
    ignored = [line.strip().rstrip("/") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]  # fmt: skip
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert {"codeq_platform", "tenants", "dashboard"} <= local_apps
    for needed in [*local_apps, "manage.py", "pyproject.toml", "templates", "static"]:
        assert not any(fnmatch.fnmatch(needed, pattern) for pattern in ignored), f"{needed} is left out"
    assert any("pip install" in args and "-e ." in args for op, args in dockerfile() if op == "RUN")


def test_every_command_a_container_runs_exists():
    check_command(image_cmd())
    commands = [image_cmd()]
    for service in app_services().values():
        commands += [c for c in (service.get("command"), service.get("healthcheck", {}).get("test")) if c]
    for container in pod_containers():
        if container["image"] in APP_IMAGES:
            commands.append(container["command"])
            for probe in ("readinessProbe", "livenessProbe"):
                if "exec" in container.get(probe, {}):
                    commands.append(container[probe]["exec"]["command"])
    for argv in commands:
        check_command(argv[1:] if argv[0] == "CMD" else argv)
    ran = {" ".join(c[:3]) for c in commands if isinstance(c, list)}
    assert {"python manage.py migrate", "python manage.py codeq_scheduler"} <= ran


def test_every_environment_variable_set_is_one_the_code_reads():
    readable = read_variables() | INTERPRETER_VARIABLES
    assert {"DATABASE_URL", "CODEQ_KV_URL", "SECRET_KEY"} <= readable
    set_here = {name for op, args in dockerfile() if op == "ENV" for name in re.findall(r"(\w+)=", args)}
    for service in app_services().values():
        set_here |= set(service["environment"])
    set_here |= set(manifest("ConfigMap", "codeq-config")["data"])
    for container in pod_containers():
        if container["image"] in APP_IMAGES:
            set_here |= {e["name"] for e in container.get("env", [])}
    assert set_here - readable == set()


def test_ports_and_host_names_agree():
    port = web_port()
    assert f"EXPOSE {port}" in [f"{op} {args}" for op, args in dockerfile()]
    assert app_services()["web"]["ports"] == [f"{port}:{port}"]
    web = manifest("Deployment", "codeq-web")["spec"]["template"]["spec"]["containers"][0]
    assert int(option(web["command"], "--port")) == port
    assert [p["containerPort"] for p in web["ports"]] == [port]
    assert web["readinessProbe"]["httpGet"]["port"] == web["livenessProbe"]["httpGet"]["port"] == port
    for probe in ("readinessProbe", "livenessProbe"):
        resolve(web[probe]["httpGet"]["path"])
    assert manifest("Service", "codeq-web")["spec"]["ports"][0]["targetPort"] == port

    kv_port = int(kvrocks_conf()["port"])
    services = compose()["services"]
    for url in (app_services()["web"]["environment"]["CODEQ_KV_URL"],
                manifest("ConfigMap", "codeq-config")["data"]["CODEQ_KV_URL"]):  # fmt: skip
        assert (urlsplit(url).hostname, urlsplit(url).port) == ("kvrocks", kv_port)
    assert "kvrocks" in services and f"-p {kv_port}" in services["kvrocks"]["healthcheck"]["test"][1]
    kv_service = manifest("Service", "kvrocks")["spec"]["ports"][0]
    assert kv_service["port"] == kv_service["targetPort"] == kv_port
    kv_container = manifest("StatefulSet", "kvrocks")["spec"]["template"]["spec"]["containers"][0]
    assert [p["containerPort"] for p in kv_container["ports"]] == [kv_port]
    assert option(kv_container["readinessProbe"]["exec"]["command"], "-p") == str(kv_port)

    database = urlsplit(app_services()["web"]["environment"]["DATABASE_URL"])
    assert database.hostname in services
    assert manifest("Service", "postgres")["spec"]["ports"][0]["port"] == database.port == 5432


def test_the_scheduler_runs_twice_and_the_web_tier_scales():
    assert compose()["services"]["scheduler"]["deploy"]["replicas"] == 2
    assert manifest("Deployment", "codeq-scheduler")["spec"]["replicas"] == 2
    assert manifest("HorizontalPodAutoscaler", "codeq-web")["spec"]["minReplicas"] >= 2
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(f"k8s/{p.name}" for p in (DEPLOY / "k8s").glob("*.yaml"))
    for generator in kustomization["configMapGenerator"]:
        assert all((DEPLOY / f).is_file() for f in generator["files"])


def test_the_kvrocks_configuration_starts_kvrocks_and_serves_the_engine(tmp_path):
    server = KvrocksProcess(tmp_path, config=DEPLOY / "kvrocks.conf")
    try:
        server.start()
        assert "not a valid configuration key" not in server.console.read_text()
        client = connect(server.url)
        engine = Engine(client, EngineConfig(prefix=f"cqd{uuid.uuid4().hex[:8]}"))
        task = engine.enqueue("acme", NewTask("deploy.check", {})).task
        (claimed,) = engine.claim("acme", "w", ["deploy.check"])
        assert claimed.id == task.id
        assert engine.complete("acme", task.id, "w", {}).task.state == State.COMPLETED
        engine.close()
        client.close()
    finally:
        server.kill()
