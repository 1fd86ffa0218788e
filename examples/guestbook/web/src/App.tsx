import { describe, statusLabel } from "../../../common/web/page.js";
import { useConnection, useEntries, useEntryCount } from "./generated/hooks.js";
import { SignForm } from "./SignForm.js";

export function App() {
  const connection = useConnection();
  const label = statusLabel(connection.status);
  return (
    <main>
      <header>
        <h1>Mizan guestbook</h1>
        <Count />
        <span id="status" className={label}>
          {label}
        </span>
      </header>
      <SignForm />
      <Entries />
      <p className="foot">
        The same guestbook without React: <a href="/guestbook">/guestbook</a>, rendered on the server.
      </p>
    </main>
  );
}

/** The `entry_count` context: refetched whenever someone signs. */
function Count() {
  const count = useEntryCount();
  const c = count.data?.entry_count;
  return (
    <span id="count" className="counts">
      {c ? `${c.total} ${c.total === 1 ? "entry" : "entries"} · ${c.today} today` : ""}
    </span>
  );
}

/** The `entries` context: the latest entries, newest first. */
function Entries() {
  const entries = useEntries();
  const rows = entries.data?.entries ?? [];
  return (
    <section className="pane" aria-labelledby="entries-heading">
      <h2 id="entries-heading">Latest entries</h2>
      {entries.status === "error" && <p className="error">{describe(entries.error)}</p>}
      <ul id="entries">
        {rows.map((e) => (
          <li key={e.id} className="entry" data-id={e.id}>
            <span className="name">{e.name}</span>
            <time className="when" dateTime={new Date(e.created_at * 1000).toISOString()}>
              {new Date(e.created_at * 1000).toLocaleString()}
            </time>
            <p className="message">{e.message}</p>
          </li>
        ))}
      </ul>
      <p id="entries-empty" className="empty" hidden={rows.length > 0 || entries.data === undefined}>
        Nobody has signed yet.
      </p>
    </section>
  );
}
