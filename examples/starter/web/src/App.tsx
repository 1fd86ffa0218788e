import { useState, type FormEvent } from "react";
import {
  MizanProvider,
  useConnection,
  useCreatePoll,
  useMyVotes,
  usePoll,
  usePolls,
  useVote,
} from "./generated/index.js";
import type { MyVote } from "./generated/types.js";

/** `code: message` of a MizanError (or any error) for the page. */
function describe(err: unknown): string {
  if (err !== null && typeof err === "object" && "code" in err) {
    const e = err as { code: string; message?: string };
    return e.code + (e.message ? `: ${e.message}` : "");
  }
  return String(err);
}

export function App() {
  // The token signs this page's socket in. A new value is sent to the
  // server at once (an `auth` frame); `null` reconnects anonymously.
  const [token, setToken] = useState<string | null>(null);
  return (
    <MizanProvider url="/api/mizan" token={token}>
      <main>
        <Header />
        <SignIn onToken={setToken} />
        <div className="columns">
          <section>
            <CreatePoll />
            <Polls />
          </section>
          <MyVotes />
        </div>
      </main>
    </MizanProvider>
  );
}

function Header() {
  const { status } = useConnection();
  const label = status === "open" ? "connected" : status === "idle" ? "connecting" : status;
  return (
    <header>
      <h1>Live polls</h1>
      <span id="status" className={label}>
        {label}
      </span>
    </header>
  );
}

/** Development sign-in: any name gets a token from `GET /dev/token?user=NAME`. */
function SignIn({ onToken }: { onToken: (token: string | null) => void }) {
  const { user } = useConnection(); // who the server says the socket is
  const [name, setName] = useState("");
  const [error, setError] = useState("");

  const signIn = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    const response = await fetch(`/dev/token?user=${encodeURIComponent(name.trim())}`);
    if (!response.ok) {
      setError(await response.text());
      return;
    }
    const { token } = (await response.json()) as { token: string };
    onToken(token);
  };

  if (user !== null) {
    return (
      <div id="signin">
        signed in as <b id="whoami">{user.id}</b>{" "}
        <button id="signout" onClick={() => onToken(null)}>
          Sign out
        </button>
      </div>
    );
  }
  return (
    <form id="signin" onSubmit={signIn}>
      <input id="user" placeholder="your name" value={name} onChange={(e) => setName(e.target.value)} />
      <button id="signin-button" type="submit" disabled={!name.trim()}>
        Sign in
      </button>
      {error && <span className="error">{error}</span>}
    </form>
  );
}

function CreatePoll() {
  const create = useCreatePoll();
  const [question, setQuestion] = useState("");
  const [options, setOptions] = useState("");

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const created = await create.mutate({
      question,
      options: options.split(",").map((o) => o.trim()).filter((o) => o !== ""),
    });
    if (created !== undefined) {
      setQuestion("");
      setOptions("");
    }
  };

  return (
    <form id="create" onSubmit={submit}>
      <h2>New poll</h2>
      <input id="question" placeholder="question" value={question} onChange={(e) => setQuestion(e.target.value)} />
      <input
        id="options"
        placeholder="options, comma-separated"
        value={options}
        onChange={(e) => setOptions(e.target.value)}
      />
      <button id="create-poll" type="submit" disabled={create.status === "pending"}>
        Create
      </button>
      {create.status === "error" && <p className="error">{describe(create.error)}</p>}
    </form>
  );
}

function Polls() {
  // Watched: `create_poll` invalidates `polls`, so this list refetches by itself.
  const polls = usePolls();
  // The same watch as <MyVotes>: one entry in the client's cache.
  const mine = useMyVotes();
  const voted = new Map<number, MyVote>((mine.data?.my_votes ?? []).map((v) => [v.poll_id, v]));
  const signedIn = useConnection().user !== null;

  if (polls.status === "pending") return <p>loading…</p>;
  if (polls.data === undefined) return <p className="error">{describe(polls.error)}</p>;
  if (polls.data.polls.length === 0) return <p id="polls-empty">No polls yet.</p>;
  return (
    <ul id="polls">
      {polls.data.polls.map((p) => (
        <Poll key={p.id} pollId={p.id} mine={voted.get(p.id)} signedIn={signedIn} />
      ))}
    </ul>
  );
}

function Poll({ pollId, mine, signedIn }: { pollId: number; mine?: MyVote; signedIn: boolean }) {
  // Watched: a `vote` with this `poll_id` invalidates exactly this poll.
  const poll = usePoll({ poll_id: pollId });
  const vote = useVote();

  if (poll.data === undefined) {
    return <li className="poll">{poll.status === "pending" ? "loading…" : describe(poll.error)}</li>;
  }
  const { question, options } = poll.data.poll;
  return (
    <li className="poll" data-id={pollId}>
      <h3 className="question">{question}</h3>
      <ul>
        {options.map((o, i) => (
          <li key={i} className={mine?.option === i ? "option mine" : "option"} data-index={i}>
            <span className="text">{o.text}</span> <span className="votes">{o.votes}</span>{" "}
            <button
              className="vote"
              disabled={!signedIn || vote.status === "pending"}
              title={signedIn ? undefined : "sign in to vote"}
              onClick={() => void vote.mutate({ poll_id: pollId, option: i })}
            >
              Vote
            </button>
          </li>
        ))}
      </ul>
      {vote.status === "error" && <p className="error">{describe(vote.error)}</p>}
    </li>
  );
}

/** The signed-in user's votes: a per-user context, refused until a sign-in. */
function MyVotes() {
  const mine = useMyVotes();
  let body;
  if (mine.error?.code === "unauthenticated") {
    body = <p id="my-votes-info">sign in to see your votes</p>;
  } else if (mine.data === undefined) {
    body = <p id="my-votes-info">{mine.status === "pending" ? "loading…" : describe(mine.error)}</p>;
  } else if (mine.data.my_votes.length === 0) {
    body = <p id="my-votes-info">no votes yet</p>;
  } else {
    body = (
      <ul>
        {mine.data.my_votes.map((v) => (
          <li key={v.poll_id} className="my-vote" data-poll={v.poll_id}>
            {v.question}: <b>{v.text}</b>
          </li>
        ))}
      </ul>
    );
  }
  return (
    <section id="my-votes">
      <h2>My votes</h2>
      {body}
    </section>
  );
}
