"""ASGI entry point: the Django application (HTTP API, dashboard, websockets)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")

application = get_asgi_application()
