/**
 * Structural sharing between a key's previous state and this run's. Every run builds the key's
 * facts anew, and the state keeps them until the next run 60 s later, so V8 promotes them to its old
 * generation, where they die: the old generation churns and concurrent marking of the whole heap
 * runs often (at 10,000 keys that was V8's worker threads' CPU, ~0.1-0.2 ms per key run). Most of it
 * came out the same as last run: an identity, a model list. `share` returns the previous object for
 * every part that is the same data, and new containers only on the paths to what changed, so what
 * survives a run is what actually changed and the rest of the new copy dies young. (The analysis
 * went the same way until the daemon stopped keeping it at all: docs/performance.md, fix 36.)
 *
 * Safe because the parts shared are never mutated once built. The one write into a built state is a
 * steady run's (src/steady.ts), into the key's current state: its facts and usage windows' numbers and
 * its outcomes' times, objects only that state holds once the state it was built from is replaced;
 * shared objects (identities, model lists, labels) are replaced, never written.
 */

/**
 * `next`, with every part that is the same plain data as the matching part of `prev` replaced by
 * `prev`'s object (`prev` itself when all of it is the same). Plain objects and arrays are compared
 * and rebuilt; anything else (class instances, Maps) is kept from `next` unless identical.
 */
export function share<T>(prev: T | undefined, next: T): T {
  return prev === undefined ? next : (shareValue(prev, next) as T);
}

function shareValue(a: unknown, b: unknown): unknown {
  if (a === b || typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return b;
  if (Array.isArray(b)) return Array.isArray(a) ? shareArray(a, b) : b;
  if (Array.isArray(a) || !isPlain(a) || !isPlain(b)) return b;
  return shareObject(a as Record<string, unknown>, b as Record<string, unknown>);
}

function shareArray(a: readonly unknown[], b: readonly unknown[]): unknown {
  let allA = a.length === b.length;
  let allB = true;
  let out: unknown[] | undefined;
  for (let i = 0; i < b.length; i++) {
    const v = i < a.length ? shareValue(a[i], b[i]) : b[i];
    if (v !== a[i]) allA = false;
    if (v !== b[i]) {
      // A shared element: the result is a new array (b is left as it was built).
      out ??= b.slice(0, i);
      allB = false;
    }
    if (out !== undefined) out.push(v);
  }
  if (allA) return a;
  return allB ? b : out;
}

function shareObject(a: Record<string, unknown>, b: Record<string, unknown>): unknown {
  let allA = true;
  let out: Record<string, unknown> | undefined;
  let keys = 0;
  // for-in, not Object.keys: no key array per object compared.
  for (const k in b) {
    keys++;
    const v = shareValue(a[k], b[k]);
    if (v !== a[k] || (v === undefined && !Object.hasOwn(a, k))) allA = false;
    if (v !== b[k] && out === undefined) {
      // A shared part: the result is a new object (b is left as it was built), its keys in b's order.
      out = {};
      for (const before in b) {
        if (before === k) break;
        out[before] = b[before];
      }
    }
    if (out !== undefined) out[k] = v;
  }
  if (allA) {
    for (const _ in a) keys--;
    if (keys === 0) return a;
  }
  return out ?? b;
}

function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o) as unknown;
  return proto === Object.prototype || proto === null;
}
