"""No HTTP routes: the peer serves only the WebSocket at /ws."""

urlpatterns = []
