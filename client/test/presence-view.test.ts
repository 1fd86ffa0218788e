// The presence list logic alone (no socket): the answer, diffs applied in
// order after it, diffs dropped while an answer is awaited, stale lists,
// failures and the order members keep.

import { describe, expect, it } from "vitest";
import { MizanError } from "../src/errors.js";
import type { PresenceMember } from "../src/frames.js";
import { PresenceView } from "../src/presence.js";

type Info = { name: string };
const m = (session: string, user: string | null = null, name = session): PresenceMember<Info> => ({ session, user, info: { name } });
const sessions = (v: PresenceView<Info>): string[] => v.getSnapshot().members.map((x) => x.session);

describe("PresenceView", () => {
  it("starts pending and empty, and takes the answer as the list", () => {
    const v = new PresenceView<Info>();
    expect(v.getSnapshot()).toMatchObject({ status: "pending", members: [], count: 0, users: 0, stale: false });
    const t = v.ask("chat:chat_a");
    expect(v.getSnapshot()).toMatchObject({ status: "pending", topic: "chat:chat_a" });
    v.answered(t, "chat:chat_a", [m("s1", "ann"), m("s2", null), m("s3", "ann"), m("s4", "bo")]);
    expect(v.getSnapshot()).toMatchObject({ status: "success", topic: "chat:chat_a", count: 4, users: 2, stale: false, error: undefined });
    expect(sessions(v)).toEqual(["s1", "s2", "s3", "s4"]);
    expect(v.getSnapshot().members[0]!.info.name).toBe("s1");
  });

  it("drops diffs before and while the answer is awaited, and applies every later one in order", () => {
    const v = new PresenceView<Info>();
    expect(v.diff([m("early")], [])).toBe(false); // before any ask
    const t = v.ask("t");
    // Batches before the answer's: the answer holds them already.
    expect(v.diff([m("s2")], [])).toBe(false);
    expect(v.diff([], [m("s9")])).toBe(false);
    v.answered(t, "t", [m("s1"), m("s2")]);
    expect(sessions(v)).toEqual(["s1", "s2"]);
    expect(v.diff([m("s3"), m("s4")], [])).toBe(true);
    expect(v.diff([], [m("s1")])).toBe(true);
    expect(v.diff([m("s5")], [m("s3")])).toBe(true);
    expect(sessions(v)).toEqual(["s2", "s4", "s5"]);
    expect(v.getSnapshot().count).toBe(3);
  });

  it("applies a batch's leaves before its joins: a member in both (back, or signed in) is there as it is now, in its place", () => {
    const v = new PresenceView<Info>();
    v.answered(v.ask("t"), "t", [m("s1"), m("s2")]);
    v.diff([m("s1", "ann", "again")], [m("s1", null)]);
    expect(sessions(v)).toEqual(["s1", "s2"]);
    expect(v.getSnapshot().members[0]).toEqual(m("s1", "ann", "again"));
    expect(v.getSnapshot().users).toBe(1);
    // A leave of someone unknown, a join of someone known: no harm.
    v.diff([m("s2")], [m("nobody")]);
    expect(sessions(v)).toEqual(["s1", "s2"]);
  });

  it("counts distinct signed-in users, not sockets", () => {
    const v = new PresenceView<Info>();
    v.answered(v.ask("t"), "t", [m("a1", "ann"), m("a2", "ann"), m("g", null)]);
    expect(v.getSnapshot()).toMatchObject({ count: 3, users: 1 });
    v.diff([m("b", "bo")], [m("a1", "ann")]);
    expect(v.getSnapshot()).toMatchObject({ count: 3, users: 2 });
    v.diff([], [m("a2", "ann")]);
    expect(v.getSnapshot()).toMatchObject({ count: 2, users: 1 });
  });

  it("takes only the latest ask's answer", () => {
    const v = new PresenceView<Info>();
    const first = v.ask("t");
    const second = v.ask("t");
    v.answered(first, "t", [m("old")]);
    expect(v.getSnapshot().status).toBe("pending");
    expect(v.diff([m("x")], [])).toBe(false); // still awaiting the second
    v.answered(second, "t", [m("s1")]);
    expect(sessions(v)).toEqual(["s1"]);
    v.answered(first, "t", [m("late")]); // ignored
    expect(sessions(v)).toEqual(["s1"]);
  });

  it("is stale from a lost socket until the next answer, which keeps the place of members still there", () => {
    const v = new PresenceView<Info>();
    v.answered(v.ask("t"), "t", [m("s1"), m("s2"), m("s3")]);
    const before = v.getSnapshot();
    v.lost();
    expect(v.getSnapshot()).toMatchObject({ status: "success", stale: true, count: 3 });
    expect(v.getSnapshot().members).toBe(before.members); // shown meanwhile
    expect(v.diff([m("s4")], [])).toBe(false); // no base: dropped
    const t = v.ask("t");
    expect(v.getSnapshot().stale).toBe(true);
    expect(v.diff([m("s5")], [])).toBe(false);
    // The new socket (s9) is in the answer; s1 (this socket's old session) is gone.
    v.answered(t, "t", [m("s9"), m("s3"), m("s2"), m("s5")]);
    expect(v.getSnapshot()).toMatchObject({ status: "success", stale: false });
    expect(sessions(v)).toEqual(["s2", "s3", "s9", "s5"]);
  });

  it("turns error on a failed ask or join, revoked on a revoked join, and pending again when asked", () => {
    const v = new PresenceView<Info>();
    const t = v.ask("t");
    v.failed(t, new MizanError("not_found", "channel `alerts` does not track presence"));
    expect(v.getSnapshot()).toMatchObject({ status: "error", members: [], error: { code: "not_found" } });
    const again = v.ask("t");
    expect(v.getSnapshot()).toMatchObject({ status: "pending", error: undefined });
    v.answered(again, "t", [m("s1")]);
    v.dropped("revoked", new MizanError("forbidden", "no longer"), "t");
    expect(v.getSnapshot()).toMatchObject({ status: "revoked", members: [], count: 0, error: { code: "forbidden" } });
    expect(v.diff([m("s2")], [])).toBe(false);
    v.dropped("error", new MizanError("forbidden", "refused"), undefined);
    expect(v.getSnapshot()).toMatchObject({ status: "error", topic: undefined });
  });

  it("replaces the snapshot only on a change, and notifies then", () => {
    const v = new PresenceView<Info>();
    let calls = 0;
    const off = v.subscribe(() => calls++);
    v.answered(v.ask("t"), "t", [m("s1")]);
    const s = v.getSnapshot();
    const n = calls;
    v.diff([], [m("nobody")]);
    expect(v.getSnapshot()).toBe(s);
    expect(calls).toBe(n);
    v.diff([m("s2")], []);
    expect(v.getSnapshot()).not.toBe(s);
    expect(calls).toBe(n + 1);
    expect(Object.isFrozen(v.getSnapshot().members)).toBe(true);
    off();
  });
});
