"""A real HTTP receiver on 127.0.0.1 for delivery tests: records what arrives and answers as told.

The receiver runs a threaded ``http.server`` so sync and async tests alike can send to it. Each
request takes the next entry of ``script`` (the last one repeats): a status code, ``"slow:<s>"``
(answer 200 after sleeping), ``"close"`` (drop the connection without answering) or
``"redirect:<url>"`` (302 to that url).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    script: list[int | str] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    answer: bytes = b'{"ok":true}'

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._arrived:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    step = receiver.script[min(len(receiver.received), len(receiver.script)) - 1]
                    receiver._arrived.notify_all()
                if step == "close":
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(step, str) and step.startswith("slow:"):
                    time.sleep(float(step.removeprefix("slow:")))
                    step = 200
                if isinstance(step, str) and step.startswith("redirect:"):
                    self.send_response(302)
                    self.send_header("Location", step.removeprefix("redirect:"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(int(step))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first ``count`` requests, waiting for them to arrive."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
