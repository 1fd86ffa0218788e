"""The chat consumer: Mizan's frame shapes for join a room, send to it and
call `echo` (bench/peers/README.md), on a Channels group per room."""

import hashlib
import json
import re

from channels.generic.websocket import AsyncWebsocketConsumer

TOPIC_PREFIX = "chat:chat_"
HELLO = '{"type":"hello"}'

# Channels allows group names of [A-Za-z0-9-_.] shorter than 100
# characters. Rooms that fit (minus `.`) keep a readable `chat_<room>`;
# any other room is hashed into `chat.<hex>`, which no readable name can
# equal because those never hold a `.`.
READABLE_ROOM = re.compile(r"[A-Za-z0-9_-]{1,80}")


def group_of(room):
    """The Channels group that holds room `room`'s members."""
    if READABLE_ROOM.fullmatch(room):
        return "chat_" + room
    return "chat." + hashlib.sha256(room.encode()).hexdigest()


def encode(frame):
    """A frame as compact JSON, as Mizan writes it."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class BadRequest(Exception):
    """A frame this consumer does not understand."""


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.groups_joined = set()
        await self.accept()
        await self.send(text_data=HELLO)

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        request_id = None
        try:
            if text_data is None:
                raise BadRequest("frames must be text")
            try:
                frame = json.loads(text_data)
            except ValueError:
                raise BadRequest("a frame must be JSON") from None
            if not isinstance(frame, dict):
                raise BadRequest("a frame must be a JSON object")
            request_id = frame.get("id")
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                request_id = None
                raise BadRequest("a request needs an integer id")
            await self.handle(request_id, frame)
        except BadRequest as error:
            await self.send(
                text_data=encode(
                    {
                        "type": "error",
                        "id": request_id,
                        "code": "bad_request",
                        "message": str(error),
                    }
                )
            )

    async def handle(self, request_id, frame):
        kind = frame.get("type")
        if kind == "subscribe":
            if frame.get("channel") != "chat":
                raise BadRequest("unknown channel")
            room = string_field(frame.get("params"), "room")
            group = group_of(room)
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)
            await self.send(
                text_data=encode(
                    {"type": "subscribed", "id": request_id, "topic": TOPIC_PREFIX + room}
                )
            )
        elif kind == "send":
            topic = frame.get("topic")
            if not isinstance(topic, str) or not topic.startswith(TOPIC_PREFIX):
                raise BadRequest("unknown topic")
            room = topic[len(TOPIC_PREFIX):]
            if not room:
                raise BadRequest("unknown topic")
            text = string_field(frame.get("data"), "text")
            # Encoded once here; each member's consumer only writes the
            # string (the way Socket.IO and Mizan share one encoded frame).
            message = encode(
                {"type": "message", "topic": topic, "data": {"text": text, "user": None}}
            )
            await self.channel_layer.group_send(
                group_of(room), {"type": "chat.message", "frame": message}
            )
            await self.send(text_data=encode({"type": "ok", "id": request_id}))
        elif kind == "call":
            if frame.get("fn") != "echo":
                raise BadRequest("unknown function")
            text = string_field(frame.get("args"), "text")
            await self.send(
                text_data=encode(
                    {"type": "result", "id": request_id, "result": {"message": text}}
                )
            )
        else:
            raise BadRequest("unknown frame type")

    async def chat_message(self, event):
        """A room message from group_send: forwarded as encoded."""
        await self.send(text_data=event["frame"])


def string_field(obj, key):
    """`obj[key]` when `obj` is an object whose `key` is a string."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str):
        raise BadRequest(f"`{key}` must be a string")
    return value
