"""Settings for the Django Channels peer: one ASGI app, no database, no
templates, no middleware. Bench-only; never deploy this."""

SECRET_KEY = "bench-peer-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "project.urls"
DATABASES = {}
USE_TZ = True

ASGI_APPLICATION = "project.asgi.application"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        # The default capacity (100 queued messages per channel) drops
        # fan-out silently under load (group_send swallows ChannelFull);
        # raised so a slow consumer queues instead, as Mizan's and
        # Socket.IO's sockets do.
        "CONFIG": {"capacity": 100_000},
    },
}
