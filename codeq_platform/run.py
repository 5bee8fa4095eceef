"""``make run``: the whole platform on embedded defaults, in one command.

Migrates a SQLite database under ./var/, starts the embedded KV (append-only file under ./var/kv/),
creates a demo tenant with an admin user and one token of each role on first run, then runs the ASGI
server on http://127.0.0.1:8000 and the scheduler until Ctrl-C. ``DATABASE_URL`` and ``CODEQ_KV_URL``
point it elsewhere.

``manage.py`` in another shell finds what it needs under ./var/: the generated ``SECRET_KEY`` (kept in
./var/secret-key, so tokens it mints are the ones the server accepts) and the store's URL (./var/kv-url,
written while it runs). Ctrl-C stops every process it started, the embedded KV last.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("CODEQ_VAR_DIR") or ROOT / "var")
HOST = os.environ.get("CODEQ_HOST", "127.0.0.1")
PORT = int(os.environ.get("CODEQ_PORT", "8000"))
DEMO_PASSWORD_FILE = VAR / "demo-admin-password"
KV_URL_FILE = VAR / "kv-url"


def _secret_key() -> str:
    path = VAR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _demo() -> tuple[str, dict[str, str]]:
    """The demo tenant, its admin user and one token per role (created once; tokens re-minted)."""
    from django.contrib.auth import get_user_model

    from tenants import bearer, services
    from tenants.models import ApiToken, Tenant

    tenant = Tenant.objects.filter(slug="demo").first()
    if tenant is None:
        tenant = services.create_tenant(slug="demo", name="Demo")
        password = secrets.token_urlsafe(12)
        DEMO_PASSWORD_FILE.write_text(password)
        DEMO_PASSWORD_FILE.chmod(0o600)
        user = get_user_model().objects.create_superuser("admin", "admin@localhost", password)
        services.add_member(tenant=tenant, user=user, role="admin")
        for role in ("producer", "worker", "admin"):
            services.issue_token(tenant=tenant, name=f"demo-{role}", role=role)
    tokens = {}
    for role in ("producer", "worker", "admin"):
        row = ApiToken.objects.filter(tenant=tenant, name=f"demo-{role}", revoked_at=None).first()
        if row is not None:
            tokens[role] = bearer.mint(row)
    return DEMO_PASSWORD_FILE.read_text().strip() if DEMO_PASSWORD_FILE.exists() else "(set by you)", tokens


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    env = os.environ
    env.setdefault("DEBUG", "1")
    env.setdefault("CODEQ_WEBHOOK_ALLOW_PRIVATE", "1")
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")  # invitation links in the log
    env.setdefault("SECRET_KEY", _secret_key())
    env.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")
    kv_server = None
    if not env.get("CODEQ_KV_URL"):
        from codeq_platform.base.embedded_kv import EmbeddedKV

        kv_server = EmbeddedKV(VAR / "kv")
        env["CODEQ_KV_URL"] = kv_server.start()
    KV_URL_FILE.write_text(env["CODEQ_KV_URL"])
    try:
        failed = _serve(env)
    finally:
        KV_URL_FILE.unlink(missing_ok=True)
        if kv_server is not None:
            kv_server.stop()
    if failed:
        sys.exit(1)


def _serve(env) -> bool:
    """Migrate, print the banner, run the web server and the scheduler until Ctrl-C or until one of
    them exits; True in the latter case."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    password, tokens = _demo()

    python = sys.executable
    web = [python, "-m", "granian", "--interface", "asginl", "codeq_platform.asgi:application",
           "--host", HOST, "--port", str(PORT), "--log-level", "warning"]  # fmt: skip
    children = {
        "the web server": subprocess.Popen(web, cwd=ROOT, start_new_session=True),
        "the scheduler": subprocess.Popen(
            [python, str(ROOT / "manage.py"), "codeq_scheduler"], cwd=ROOT, start_new_session=True
        ),
    }
    base = f"http://{HOST}:{PORT}"
    print(
        f"""
codeQ Platform is running.
  API docs     {base}/v1/codeq/docs    (every route is under {base}/v1/codeq/; OpenAPI: {base}/v1/codeq/openapi.json)
  Dashboard    {base}/dashboard/       login: admin / {password}
  Admin        {base}/admin/           login: admin / {password}
  Health       {base}/healthz  {base}/readyz
  KV store     {env["CODEQ_KV_URL"]}

Try it (tenant "demo"):
  export PRODUCER={tokens.get("producer", "")}
  export WORKER={tokens.get("worker", "")}
  export ADMIN={tokens.get("admin", "")}
  curl -s -X POST {base}/v1/codeq/tasks -H "Authorization: Bearer $PRODUCER" \\
       -d '{{"command":"media.resize","payload":{{"src":"s3://bucket/cat.jpg","w":640}},"priority":5}}'
  curl -s -X POST {base}/v1/codeq/tasks/claim -H "Authorization: Bearer $WORKER" -d '{{"commands":["media.resize"]}}'
  curl -s -X POST {base}/v1/codeq/tasks/<id>/result -H "Authorization: Bearer $WORKER" \\
       -d '{{"status":"COMPLETED","result":{{"url":"s3://bucket/cat-640.jpg"}}}}'
  curl -s {base}/v1/codeq/tasks/<id>/result -H "Authorization: Bearer $PRODUCER"

Ctrl-C stops everything.
""",
        flush=True,
    )

    # The children run in sessions of their own, so a terminal's Ctrl-C reaches this process only and
    # each child is asked to stop exactly once (a second signal can hang granian's signal handling).
    stopping: list[bool] = []

    def stop(signum=None, frame=None):
        if stopping:
            return
        stopping.append(True)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    failed = None
    try:
        while not stopping and failed is None:
            failed = next((name for name, child in children.items() if child.poll() is not None), None)
            time.sleep(0.2)
        if failed is not None:
            print(f"{failed} exited with code {children[failed].returncode}; stopping everything.", flush=True)
    finally:
        stop()
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return failed is not None


if __name__ == "__main__":
    main()
