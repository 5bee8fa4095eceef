"""django-redis over the platform's store: the token cache reaches it as every other component does.

django-redis builds plain ``redis.Redis`` pools from the URL, which speak redis-py's default RESP3
(refused by KVRocks' stock configuration), ignore the store's TLS settings and cannot follow a
cluster. This factory hands it the client ``codeq_platform.engine.store`` builds instead: RESP2,
TLS files from settings, ``redis.RedisCluster`` for a ``redis+cluster://`` URL. One client per URL
and process, shared by every thread (Django makes a cache object per thread).
"""

from __future__ import annotations

import threading
from typing import Any

from django_redis.pool import ConnectionFactory

from codeq_platform.base import kv
from codeq_platform.engine import store

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class StoreConnectionFactory(ConnectionFactory):
    def connect(self, url: str) -> Any:
        with _lock:
            client = _clients.get(url)
            if client is None:
                timeouts = {"socket_timeout": self.options.get("SOCKET_TIMEOUT"),
                            "socket_connect_timeout": self.options.get("SOCKET_CONNECT_TIMEOUT")}  # fmt: skip
                client = _clients[url] = store.connect(url, kv.tls(), **timeouts)
            return client

    def disconnect(self, connection: Any) -> None:
        """Clients are shared by the process's cache objects: closing one cache leaves them open."""
