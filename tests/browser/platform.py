"""The platform as the browser tests run it, and the browser: a uvicorn and a ``manage.py codeq_scheduler``
as subprocesses on the test database and the real store (under a key prefix of their own), Debian's
Chromium driven by Playwright, and the helpers every browser test uses. Screenshots go to ``var/screenshots/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.processes import answers, free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "browser-test-password"


class Platform:
    """The web process (stopped and started again by the reconnect test) and the scheduler beside it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web: subprocess.Popen | None = None
        self.scheduler = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL)  # fmt: skip

    def start_web(self) -> None:
        self.web = subprocess.Popen([sys.executable, "-m", "uvicorn", "codeq_platform.asgi:application",
                                     "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                                    cwd=ROOT, env=self.env)  # fmt: skip
        wait_until(lambda: answers(f"{self.base}/healthz"), "the server did not start",
                   alive=lambda: self.web.poll() is None and self.scheduler.poll() is None)  # fmt: skip

    def stop_web(self) -> None:
        _stop(self.web)

    def stop(self) -> None:
        _stop(self.web)
        _stop(self.scheduler)


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


# Chromium reports a blocked script, style, image, connection or frame twice: as a console error and as a
# securitypolicyviolation event, which this script (run by the browser before each page's own, outside its
# policy) turns into a console message too.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  const blocked = e.blockedURI || "inline";
  console.error(`securitypolicyviolation: ${e.violatedDirective} blocked ${blocked} at ${e.documentURI}`);
});
"""


@contextmanager
def browser_pages(base: str):
    """Yield ``new_page()``: each call opens a page in a browser context of its own (its own cookies); the
    test fails if any page it showed broke its Content-Security-Policy."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    violations: list[str] = []

    def watch(message) -> None:
        if "Content Security Policy" in message.text or "securitypolicyviolation" in message.text:
            violations.append(message.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)

        def new_page():
            page = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(60_000)  # a busy machine renders slowly; a wait ends once met
            page.add_init_script(REPORT_VIOLATIONS)
            page.on("console", watch)
            return page

        try:
            yield new_page
        finally:
            browser.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@contextmanager
def browser_page(base: str):
    with browser_pages(base) as new_page:
        yield new_page()


def screenshots(page, name: str) -> None:
    """Full-page screenshots of ``page`` at a desktop (1440 px) and a phone (390 px) width."""
    size = page.viewport_size
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size(size)


def log_in(page, username: str) -> None:
    page.goto("/dashboard/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=SCREENSHOTS / "login.png")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/t/acme/")


def mailed_link(mail_dir: Path, address: str, path: str = "/dashboard/invitations/") -> str:
    """The link under ``path`` of the email to ``address``, once the server has written it."""

    def link() -> str | None:
        for message in mail_dir.iterdir():
            text = message.read_text()
            if f"To: {address}" in text:
                return re.search(rf"https?://\S+{path}\S+/", text).group(0)
        return None

    wait_until(lambda: link() is not None, f"no email to {address}")
    return link()
