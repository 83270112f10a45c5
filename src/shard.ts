/**
 * Sharding: N keywatch instances split the keys between them without talking to each other. Each
 * owns the names whose stable hash (FNV-1a, 32-bit) falls on its index, so every instance agrees
 * without coordination, and a key moves only when the shard count changes.
 */
export interface Shard {
  index: number;
  count: number;
}

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function ownsKey(name: string, shard: Shard | undefined): boolean {
  if (shard === undefined || shard.count <= 1) return true;
  return fnv1a(name) % shard.count === shard.index;
}

/** `i/n`, 0-based: `0/3`, `1/3`, `2/3`. */
export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null) throw new Error(`--shard expects i/n (0-based index / count), e.g. 0/3; got "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`--shard ${text}: the index must be below the count`);
  return { index, count };
}
