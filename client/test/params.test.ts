import { describe, expect, it } from "vitest";
import { backoffDelay, canonicalJson, endpoints, keyOf, scopeMatches } from "../src/index.js";

describe("canonical params", () => {
  it("sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: 3 } })).toBe('{"a":{"c":3,"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(keyOf("user", { a: 1, b: 2 })).toBe(keyOf("user", { b: 2, a: 1 }));
    expect(keyOf("user", { a: 1 })).not.toBe(keyOf("users", { a: 1 }));
    expect(keyOf("user", {})).toBe(keyOf("user", { gone: undefined }));
  });

  it("matches entries as PROTOCOL.md section 5 says", () => {
    expect(scopeMatches(undefined, { user_id: 5 })).toBe(true);
    expect(scopeMatches({ user_id: 5 }, { user_id: 5, tab: "a" })).toBe(true);
    expect(scopeMatches({ user_id: 5 }, { user_id: 6 })).toBe(false);
    expect(scopeMatches({ user_id: 5 }, { user_id: "5" })).toBe(false);
    expect(scopeMatches({ user_id: 5 }, {})).toBe(false);
    expect(scopeMatches({ f: { a: 1, b: 2 } }, { f: { b: 2, a: 1 } })).toBe(true);
    expect(scopeMatches({}, { x: 1 })).toBe(true);
  });
});

describe("backoff", () => {
  it("grows exponentially up to the cap, with jitter below the base", () => {
    const o = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0.5 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(2, o, () => 1)).toBe(200);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, o);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });
});

describe("endpoints", () => {
  it("derives the HTTP base and the socket URL", () => {
    expect(endpoints("http://h:3000")).toEqual({ http: "http://h:3000/api/mizan", ws: "ws://h:3000/api/mizan/ws" });
    expect(endpoints("https://h/x/api/mizan/")).toEqual({ http: "https://h/x/api/mizan", ws: "wss://h/x/api/mizan/ws" });
    expect(endpoints("ws://h:1/api/mizan/ws")).toEqual({ http: "http://h:1/api/mizan", ws: "ws://h:1/api/mizan/ws" });
    expect(() => endpoints("/api/mizan")).toThrow(/not a URL/); // no page location in Node
  });
});
