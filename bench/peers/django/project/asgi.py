"""The ASGI application daphne runs: Django's HTTP handler (no routes) and
the chat consumer at /ws."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Sets Django up before anything imports models or settings.
http_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from project.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": URLRouter([path("ws", ChatConsumer.as_asgi())]),
    }
)
