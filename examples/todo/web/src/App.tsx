import { useEffect, useRef, useState, type FormEvent } from "react";
import { describe, guestName, statusLabel, storage, type Notice } from "../../../common/web/page.js";
import { scopeMatches, type InvalidateEntry, type MergeEntry } from "@mizan/client";
import {
  useAddItem,
  useConnection,
  useCreateList,
  useDeleteList,
  useList,
  useLists,
  useMizan,
  useRenameList,
  useToggleItem,
} from "./generated/hooks.js";
import type { Item, ListSummary } from "./generated/types.js";

const OWNER_KEY = "mizan.todo.owner";
const LOG_MAX = 15;

// The server refuses names with surrounding spaces (entries are scoped by
// the args as sent), so normalise here.
const ownerName = (s: string | null): string => Array.from((s ?? "").trim()).slice(0, 40).join("").trim();

export function App() {
  const connection = useConnection();
  const connected = connection.status === "open";
  const [owner, setOwner] = useState(() => {
    const initial = ownerName(storage.get(OWNER_KEY)) || guestName();
    storage.set(OWNER_KEY, initial);
    return initial;
  });
  const [ownerInput, setOwnerInput] = useState(owner);
  const [openId, setOpenId] = useState<number | null>(null);
  const [closedWhy, setClosedWhy] = useState<string | null>(null);
  const [info, setInfo] = useState<Notice | null>(null);
  const report = (text: string) => setInfo({ text, error: true });

  const openList = (id: number) => {
    setOpenId(id);
    setClosedWhy(null);
  };
  const closeList = (why: string | null = null) => {
    setOpenId(null);
    setClosedWhy(why);
  };

  const applyOwner = () => {
    const name = ownerName(ownerInput) || owner || guestName();
    setOwnerInput(name);
    if (name === owner) return;
    storage.set(OWNER_KEY, name);
    setOwner(name);
    closeList();
  };

  const label = statusLabel(connection.status);
  return (
    <main>
      <header>
        <h1>Mizan todo</h1>
        <form
          id="owner-form"
          onSubmit={(e) => {
            e.preventDefault();
            applyOwner();
          }}
        >
          <label htmlFor="owner">Your name</label>
          <input
            id="owner"
            type="text"
            maxLength={40}
            autoComplete="nickname"
            spellCheck={false}
            value={ownerInput}
            onChange={(e) => setOwnerInput(e.target.value)}
            onBlur={applyOwner}
          />
          <button id="use-owner" className="quiet" type="submit">
            Use
          </button>
        </form>
        <span id="status" className={label}>
          {label}
        </span>
      </header>

      <div className="cols">
        <Lists owner={owner} openId={openId} connected={connected} onOpen={openList} onError={report} onDone={() => setInfo(null)} />
        <section className="pane" aria-label="Open list">
          <p id="no-list" className="empty" hidden={openId !== null}>
            {closedWhy ?? "Open a list, or create one."}
          </p>
          <div id="list-view" hidden={openId === null}>
            {openId !== null && (
              <ListView
                key={openId}
                id={openId}
                owner={owner}
                connected={connected}
                onGone={() => closeList("That list no longer exists.")}
                onError={report}
                onDone={() => setInfo(null)}
              />
            )}
          </div>
        </section>
      </div>

      <div id="info" className={info?.error ? "error" : ""}>
        {info?.text ?? ""}
      </div>

      <PushLog owner={owner} openId={openId} />
    </main>
  );
}

interface PaneProps {
  owner: string;
  connected: boolean;
  onError: (text: string) => void;
  onDone: () => void;
}

/** The owner's lists (`useLists`), and the form that creates one (`useCreateList`). */
function Lists({ owner, openId, connected, onOpen, onError, onDone }: PaneProps & { openId: number | null; onOpen: (id: number) => void }) {
  const lists = useLists({ owner });
  const create = useCreateList();
  const [title, setTitle] = useState("");
  const rows: ListSummary[] = lists.data?.lists ?? [];

  const error = lists.status === "error" ? describe(lists.error) : null;
  useEffect(() => {
    if (error !== null) onError(`lists: ${error}`);
  }, [error]); // once per new error (onError is a new function on every render)

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = title.trim();
    if (!t) return;
    try {
      const list = await create.mutateAsync({ owner, title: t });
      setTitle("");
      onDone();
      onOpen(list.id);
    } catch (err) {
      onError(`create failed — ${describe(err)}`);
    }
  };

  return (
    <section className="pane" aria-labelledby="lists-heading">
      <h2 id="lists-heading">Your lists</h2>
      <ul id="lists">
        {rows.map((row) => (
          <li key={row.id} className={row.id === openId ? "list selected" : "list"} data-id={row.id}>
            <button type="button" onClick={() => onOpen(row.id)}>
              <span className="title">{row.title}</span>
              <span className="counts">{`${row.open} open · ${row.done} done`}</span>
            </button>
          </li>
        ))}
      </ul>
      <p id="lists-empty" className="empty" hidden={rows.length > 0 || lists.data === undefined}>
        No lists yet.
      </p>
      <form id="create-form" onSubmit={submit}>
        <input
          id="new-list-title"
          type="text"
          aria-label="New list title"
          placeholder="New list…"
          maxLength={80}
          autoComplete="off"
          value={title}
          onChange={(e) => setTitle(e.target.value)}
        />
        <button id="create-list" type="submit" disabled={!connected}>
          Create
        </button>
      </form>
    </section>
  );
}

/**
 * The open list (`useList`): its title and items. Add, toggle, rename and
 * delete are mutations; the screen updates from the server's pushes only.
 */
function ListView({ id, owner, connected, onGone, onError, onDone }: PaneProps & { id: number; onGone: () => void }) {
  const list = useList({ list_id: id });
  const add = useAddItem();
  const toggle = useToggleItem();
  const rename = useRenameList();
  const remove = useDeleteList();
  const [text, setText] = useState("");
  const [renaming, setRenaming] = useState(false);
  const [newTitle, setNewTitle] = useState("");
  const renameInput = useRef<HTMLInputElement>(null);
  // Checkboxes ticked but not yet confirmed by a new bundle: item id -> done.
  const [ticked, setTicked] = useState<ReadonlyMap<number, boolean>>(new Map());

  const data = list.data;
  useEffect(() => {
    // A new bundle is the truth: drop the ticks it confirms.
    setTicked((prev) => {
      const next = new Map([...prev].filter(([itemId, done]) => data?.items.find((i) => i.id === itemId)?.done !== done));
      return next.size === prev.size ? prev : next;
    });
  }, [data]);
  const errorCode = list.status === "error" ? (list.error?.code ?? "internal") : null;
  useEffect(() => {
    // Deleted (here or elsewhere), or gone with a server restart: close it.
    if (errorCode === "not_found") onGone();
    else if (errorCode !== null) onError(`list: ${describe(list.error)}`);
  }, [errorCode]); // once per new error (the callbacks are new on every render)

  useEffect(() => {
    if (renaming) {
      renameInput.current?.focus();
      renameInput.current?.select();
    }
  }, [renaming]);

  // The list's owner, from its bundle: add/toggle/delete name it so their
  // `lists` entry reaches the right screens.
  const listArgs = () => ({ owner: data?.list.owner ?? owner, list_id: id });

  const addItem = async (e: FormEvent) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    try {
      await add.mutateAsync({ ...listArgs(), text: t });
      setText("");
      onDone();
    } catch (err) {
      onError(`add failed — ${describe(err)}`);
    }
  };

  const toggleItem = async (item: Item, done: boolean) => {
    setTicked((prev) => new Map(prev).set(item.id, done));
    try {
      await toggle.mutateAsync({ ...listArgs(), item_id: item.id });
      onDone();
    } catch (err) {
      onError(`toggle failed — ${describe(err)}`);
      setTicked((prev) => {
        const next = new Map(prev);
        next.delete(item.id);
        return next; // the checkbox shows the server's state again
      });
    }
  };

  const openRename = () => {
    if (data === undefined) return;
    setNewTitle(data.list.title);
    setRenaming(true);
  };

  const saveRename = async (e: FormEvent) => {
    e.preventDefault();
    const t = newTitle.trim();
    if (!t) return;
    try {
      await rename.mutateAsync({ list_id: id, title: t });
      setRenaming(false);
      onDone();
    } catch (err) {
      onError(`rename failed — ${describe(err)}`);
    }
  };

  const deleteList = async () => {
    if (!window.confirm(`Delete “${data?.list.title ?? ""}”?`)) return;
    try {
      await remove.mutateAsync(listArgs());
      onDone();
    } catch (err) {
      onError(`delete failed — ${describe(err)}`);
    }
  };

  const items = data?.items ?? [];
  return (
    <>
      <div className="title-row">
        <h2 id="list-title">{data?.list.title ?? "…"}</h2>
        <button id="rename" className="quiet" type="button" disabled={!connected} onClick={() => (renaming ? setRenaming(false) : openRename())}>
          Rename
        </button>
        <button id="delete-list" className="danger" type="button" disabled={!connected} onClick={deleteList}>
          Delete
        </button>
      </div>
      <form id="rename-form" hidden={!renaming} onSubmit={saveRename}>
        <input
          id="rename-title"
          ref={renameInput}
          type="text"
          aria-label="New title"
          maxLength={80}
          autoComplete="off"
          value={newTitle}
          onChange={(e) => setNewTitle(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Escape") setRenaming(false);
          }}
        />
        <button id="rename-save" type="submit" disabled={!connected}>
          Save
        </button>
        <button id="rename-cancel" className="quiet" type="button" onClick={() => setRenaming(false)}>
          Cancel
        </button>
      </form>
      <ul id="items">
        {items.map((item) => (
          <li key={item.id} className={item.done ? "item done" : "item"} data-id={item.id}>
            <label>
              <input
                type="checkbox"
                aria-label="done"
                checked={ticked.get(item.id) ?? item.done}
                disabled={!connected}
                onChange={(e) => void toggleItem(item, e.currentTarget.checked)}
              />
              <span className="text">{item.text}</span>
            </label>
          </li>
        ))}
      </ul>
      <p id="items-empty" className="empty" hidden={data === undefined || items.length > 0}>
        Nothing to do.
      </p>
      <form id="item-form" onSubmit={addItem}>
        <input
          id="new-item"
          type="text"
          aria-label="New item"
          placeholder="Add an item…"
          maxLength={200}
          autoComplete="off"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button id="add-item" type="submit" disabled={!connected}>
          Add
        </button>
      </form>
    </>
  );
}

interface LogRow {
  n: number;
  time: string;
  type: "invalidate" | "merge" | "note";
  context: string;
  params?: string;
  action?: string;
}

const clock = (): string => new Date().toLocaleTimeString([], { hour12: false });

/**
 * The pushes this page receives, newest first. The client's cache acts on
 * them by itself (an invalidate refetches the matching contexts, a merge
 * splices its value into the slot); this only shows them, next to what the
 * cache did for the contexts on screen.
 */
function PushLog({ owner, openId }: { owner: string; openId: number | null }) {
  const client = useMizan();
  const [rows, setRows] = useState<LogRow[]>([]);
  // What this page watches, for the "what happened" column.
  const watched = useRef<{ context: string; params: Record<string, string | number> }[]>([]);
  watched.current = [{ context: "lists", params: { owner } }];
  if (openId !== null) watched.current.push({ context: "list", params: { list_id: openId } });

  useEffect(() => {
    let n = 0;
    const add = (row: Omit<LogRow, "n" | "time">) =>
      setRows((prev) => [{ ...row, n: ++n, time: clock() }, ...prev].slice(0, LOG_MAX));
    const hits = (entry: InvalidateEntry | MergeEntry) =>
      watched.current.filter((w) => w.context === entry.context && scopeMatches(entry.params, w.params)).length;
    const offPush = client.kernel.onPush.add((frame) => {
      if (frame.type === "invalidate") {
        add({
          type: "invalidate",
          context: frame.context + (frame.fn ? `.${frame.fn}` : ""),
          params: frame.params ? JSON.stringify(frame.params) : "(all)",
          action: hits(frame) ? "refetch (one per burst)" : "not watched here",
        });
      } else if (frame.type === "merge") {
        add({
          type: "merge",
          context: `${frame.context}.${frame.slot}`,
          params: frame.params ? JSON.stringify(frame.params) : "(all)",
          action: hits(frame) ? `spliced into slot “${frame.slot}”, no request` : "not watched here",
        });
      }
    });
    const offOpen = client.kernel.onOpen.add(({ reconnected }) => {
      if (reconnected) add({ type: "note", context: `reconnected: watching ${watched.current.length} context(s) again` });
    });
    return () => {
      offPush();
      offOpen();
    };
  }, [client]);

  return (
    <section className="pane" aria-labelledby="log-heading">
      <h2 id="log-heading">Pushes received (newest first)</h2>
      <p className="empty">
        An <b>invalidate</b> makes the client refetch the context it names (one request at a time per context; a
        burst gives one more refetch after it). A <b>merge</b> carries the new value: it is spliced into the slot,
        with no request. Open a second tab with the same name to watch the other tab&rsquo;s changes arrive.
      </p>
      <ol id="log">
        {rows.map((row) => (
          <li key={row.n}>
            <span className="time">{row.time}</span>
            <span className={`type ${row.type}`}>{row.type}</span>
            <span className="context">{row.context}</span>
            {row.params !== undefined && <span className="params">{row.params}</span>}
            {row.action !== undefined && <span className="action">{row.action}</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}
