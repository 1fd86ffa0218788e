import { useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { describe, guestName, statusLabel, storage, type Notice } from "../../../common/web/page.js";
import { useChatChannel, useChatPresence, useConnection } from "./generated/hooks.js";
import type { Said } from "./generated/types.js";

const NAME_KEY = "mizan.chat.name";
const MAX_MESSAGES = 500;
/** How many of the room's recent messages a tab shows when it joins (the room keeps 100). */
const HISTORY = 50;

export function App() {
  const connection = useConnection();
  const connected = connection.status === "open";
  const [name, setName] = useState(() => {
    const initial = storage.get(NAME_KEY) || guestName();
    storage.set(NAME_KEY, initial);
    return initial;
  });
  const [roomInput, setRoomInput] = useState("lobby");
  // The room joined, and the name its member list shows for this tab: the
  // name at the time of joining (a new name shows in the next room joined).
  const [joined, setJoined] = useState(() => ({ room: "lobby", name }));
  const room = joined.room;
  const [text, setText] = useState("");
  const [notice, setNotice] = useState<Notice | null>(null);

  // Joined while mounted (showing the room's last messages), left when `room`
  // changes, joined again after a reconnect with what was missed meanwhile.
  const chat = useChatChannel(joined, { keep: MAX_MESSAGES, history: HISTORY });
  // Who is in the room: the same join, its member list kept current by the server.
  const here = useChatPresence(joined);
  const canSend = connected && chat.status === "joined";

  let info: Notice;
  if (notice !== null) info = notice;
  else if (chat.status === "error") info = { text: `join failed — ${describe(chat.error)}`, error: true };
  else if (chat.status === "joined" && connected) info = { text: `in room “${room}”`, error: false };
  else if (chat.status === "joined") info = { text: `in room “${room}” — offline, rejoins when connected`, error: false };
  else if (connected) info = { text: `joining “${room}”…`, error: false };
  else info = { text: `will join “${room}” when connected`, error: false };

  const saveName = () => {
    const cleaned = name.trim() || guestName();
    setName(cleaned);
    storage.set(NAME_KEY, cleaned);
  };

  const join = (e: FormEvent) => {
    e.preventDefault();
    const next = roomInput.trim().toLowerCase();
    setRoomInput(next);
    setNotice(null);
    if (next !== joined.room) setJoined({ room: next, name: name.trim() || guestName() });
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const message = text.trim();
    if (!message || !canSend) return;
    setText("");
    try {
      await chat.send({ text: message, name: name.trim() || "guest" });
      setNotice(null);
    } catch (err) {
      setNotice({ text: `send failed — ${describe(err)}`, error: true });
      setText((current) => current || message); // give the text back
    }
  };

  const label = statusLabel(connection.status);
  return (
    <main>
      <header>
        <h1>Mizan chat</h1>
        <span id="status" className={label}>
          {label}
        </span>
      </header>
      <form id="join-form" onSubmit={join}>
        <input
          id="name"
          aria-label="Your name"
          placeholder="your name"
          title="Your name"
          maxLength={40}
          autoComplete="nickname"
          value={name}
          onChange={(e) => setName(e.target.value)}
          onBlur={saveName}
        />
        <input
          id="room"
          aria-label="Room"
          placeholder="room"
          title="Room (a-z, 0-9, -)"
          maxLength={32}
          autoCapitalize="off"
          spellCheck={false}
          value={roomInput}
          onChange={(e) => setRoomInput(e.target.value)}
        />
        <button id="join" type="submit">
          Join
        </button>
      </form>
      <Members here={here} session={connection.session} />
      {chat.gap && (
        <div id="gap" role="status">
          some messages may be missing
        </div>
      )}
      <Messages messages={chat.messages} />
      <form id="send-form" onSubmit={send}>
        <input
          id="text"
          aria-label="Message"
          placeholder="Say something…"
          autoComplete="off"
          disabled={!canSend}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button id="send" type="submit" disabled={!canSend}>
          Send
        </button>
      </form>
      <div id="info" className={info.error ? "error" : ""}>
        {info.text}
      </div>
    </main>
  );
}

/** Who is in the room, this tab marked "(you)"; dimmed while the list is being asked again after a reconnect. */
function Members({ here, session }: { here: ReturnType<typeof useChatPresence>; session: string | null }) {
  return (
    <section id="members" aria-label="In this room" className={here.stale ? "stale" : ""}>
      <span className="label">
        <span id="member-count">{here.status === "success" ? here.count : "…"}</span> here:
      </span>
      {here.members.map((m) => (
        <span className={m.session === session ? "member you" : "member"} key={m.session} title={m.user ?? "not signed in"}>
          {m.info.name}
          {m.session === session ? " (you)" : ""}
        </span>
      ))}
    </section>
  );
}

/** The room's messages; stays scrolled to the bottom unless the reader scrolled up. */
function Messages({ messages }: { messages: Said[] }) {
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (el !== null && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages]);
  return (
    <div
      id="messages"
      aria-live="polite"
      ref={box}
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      {messages.map((m, i) => {
        const at = new Date(m.at);
        const valid = !Number.isNaN(at.getTime());
        return (
          <div className="msg" key={i}>
            <span className="time" title={valid ? at.toLocaleString() : undefined}>
              {valid ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : ""}
            </span>
            <span className="name">{m.name}</span>
            <span className="text">{m.text}</span>
          </div>
        );
      })}
    </div>
  );
}
