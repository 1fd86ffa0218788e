// Mounts a React tree in Node, effects and all, without a DOM library: the
// components under test render no host elements (`null`), so react-dom's
// client needs only a container to hang its event listeners on and a
// `window` to read the current event from. Import this module before any
// React binding, so they see a `window` as in a browser.

import { act, type ReactElement } from "react";
import { createRoot } from "react-dom/client";

const g = globalThis as { window?: unknown; IS_REACT_ACT_ENVIRONMENT?: boolean };
g.window ??= { HTMLIFrameElement: class {} };
g.IS_REACT_ACT_ENVIRONMENT = true;

/** A mounted tree. */
export interface Mounted {
  /** Renders `element` in place of the tree (one commit, effects flushed). */
  render(element: ReactElement): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts `element` and flushes its effects. */
export async function mount(element: ReactElement): Promise<Mounted> {
  const listeners = { addEventListener: () => undefined, removeEventListener: () => undefined };
  const container = { nodeType: 1, nodeName: "DIV", tagName: "DIV", textContent: "", ...listeners, ownerDocument: { nodeType: 9, ...listeners } };
  const root = createRoot(container as unknown as Element);
  const render = (e: ReactElement): Promise<void> => act(async () => root.render(e));
  await render(element);
  return { render, unmount: () => act(async () => root.unmount()) };
}
