/**
 * Structural sharing between a key's previous analysis and this run's: a part that came out the
 * same is returned as the previous object, so the new copy dies young and what the key's state
 * keeps for the next 60 s (promoted to V8's old generation) is mostly what it already held.
 * Analysis objects are never mutated after they are built, which is what makes sharing safe.
 */

/**
 * `prev` when it is the same plain data as `next` (so its JSON is the same too), else `next`.
 */
export function share<T>(prev: T | undefined, next: T): T {
  return prev !== undefined && sameData(prev, next) ? prev : next;
}

function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // for-in rather than Object.keys: no key arrays to allocate for every object compared. Key order
  // is not compared: both come from the same builder, which orders the same set of keys the same way.
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k) || !sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}
