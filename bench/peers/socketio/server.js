// Socket.IO 4 peer for Mizan's load benchmark: the same three requests as
// Mizan's chat fixture (join a room, send to it, call `echo`), spelled as
// Socket.IO events with acknowledgements. See ../README.md for the wire
// dialect and the fairness notes.
//
//   node server.js PORT [--recover]        (PORT 0: any free port)
//
// `--recover` turns on Socket.IO's connection state recovery (the load
// generator's jitter step): a client that reconnects within two minutes
// with its session id and last offset gets its rooms back and the events
// it missed.
//
// Prints `listening on 127.0.0.1:<port>` once, when it accepts sockets.

"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] ?? 0);
const options = process.argv.slice(3);
const recover = options.includes("--recover");
if (
  !Number.isInteger(port) ||
  port < 0 ||
  port > 65535 ||
  options.some((option) => option !== "--recover")
) {
  console.error("usage: node server.js PORT [--recover]");
  process.exit(2);
}

const httpServer = http.createServer();
const io = new Server(httpServer, {
  // The generator speaks raw WebSocket frames; no long-polling upgrade,
  // no compression (Mizan compresses nothing either).
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  // Off by default, as in Socket.IO. On, every broadcast carries its
  // offset as a last argument and the in-memory adapter keeps the
  // packets for the duration.
  ...(recover && {
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 },
  }),
});

const topicOf = (room) => `chat:chat_${room}`;

io.on("connection", (socket) => {
  // An event sent without a payload gets the ack as its only argument.
  const on = (event, handler) =>
    socket.on(event, (payload, ack) =>
      typeof payload === "function" ? handler(undefined, payload) : handler(payload, ack),
    );

  on("subscribe", (payload, ack) => {
    const room = roomOf(payload);
    if (room === null) return reject(ack);
    socket.join(room);
    if (typeof ack === "function") ack({ topic: topicOf(room) });
  });

  on("send", (payload, ack) => {
    const room = roomOf(payload);
    if (room === null || typeof payload.text !== "string") return reject(ack);
    // One broadcast: Socket.IO encodes the packet once and writes the same
    // frame to every member of the room, the sender included.
    io.to(room).emit("message", {
      topic: topicOf(room),
      data: { text: payload.text, user: null },
    });
    if (typeof ack === "function") ack({});
  });

  on("echo", (payload, ack) => {
    if (typeof payload?.text !== "string") return reject(ack);
    if (typeof ack === "function") ack({ message: payload.text });
  });
});

/** The room named by `{room}`, or null when the payload has none. */
function roomOf(payload) {
  const room = payload?.room;
  return typeof room === "string" && room.length > 0 ? room : null;
}

/** Acknowledges a malformed request with an error object. */
function reject(ack) {
  if (typeof ack === "function") ack({ error: "bad_request" });
}

httpServer.listen(port, "127.0.0.1", () => {
  const { address, port: bound } = httpServer.address();
  // One line on stdout, which the generator waits for.
  process.stdout.write(`listening on ${address}:${bound}\n`);
});

function shutdown() {
  // io.close() disconnects every socket and closes the HTTP server; a
  // client that does not close its end must not keep us alive.
  setTimeout(() => process.exit(0), 2000).unref();
  io.close(() => process.exit(0));
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
