/**
 * The store interface every piece of client state exposes. It is exactly
 * what React's `useSyncExternalStore` takes, and usable without React.
 */

/** A value that changes over time and says when it did. */
export interface Store<T> {
  /** Calls `listener` after every change; returns the function that stops it. */
  subscribe(listener: () => void): () => void;
  /**
   * The current value. Returns the same object until the value changes, as
   * `useSyncExternalStore` requires.
   */
  getSnapshot(): T;
  /** The value to render on a server (SSR); defaults to `getSnapshot`. */
  getServerSnapshot?(): T;
}

/** A set of listeners; calling one that throws does not stop the others. */
export class Listeners<A extends unknown[] = []> {
  private readonly set = new Set<(...args: A) => void>();

  /** Adds a listener; returns its remover. */
  add(listener: (...args: A) => void): () => void {
    this.set.add(listener);
    return () => {
      this.set.delete(listener);
    };
  }

  /** Calls every listener with `args`. */
  emit(...args: A): void {
    for (const l of [...this.set]) {
      try {
        l(...args);
      } catch (e) {
        reportListenerError(e);
      }
    }
  }

  /** How many listeners there are. */
  get size(): number {
    return this.set.size;
  }
}

function reportListenerError(e: unknown): void {
  // A listener's bug must not break delivery to the others; rethrow it
  // outside this call stack so it still shows up.
  setTimeout(() => {
    throw e;
  }, 0);
}

/** A store holding one value, replaced with `set`. */
export class ValueStore<T> implements Store<T> {
  private value: T;
  private readonly listeners = new Listeners();

  constructor(initial: T) {
    this.value = initial;
  }

  subscribe = (listener: () => void): (() => void) => this.listeners.add(listener);

  getSnapshot = (): T => this.value;

  getServerSnapshot = (): T => this.value;

  /** Replaces the value and notifies listeners if it changed (by `Object.is`). */
  set(value: T): void {
    if (Object.is(value, this.value)) return;
    this.value = value;
    this.listeners.emit();
  }
}
