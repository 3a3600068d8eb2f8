/**
 * Per-fd bookkeeping of the memberships netjoin made. The kernel does not say
 * cheaply which mode a socket's membership is in, so netjoin remembers what
 * it joined, to refuse the calls Linux would carry out wrongly. Joins made on
 * the same fd by other code are not seen.
 *
 * It sits on the hot path of every join and leave, so a lookup allocates
 * nothing: groups are found by a numeric hash of (interface, group), and an
 * entry whose group was left is kept (state 0) for the next join of the same
 * group. Left entries are swept once an fd holds many of them.
 *
 * @module
 */

/** The state of a group joined from any source. */
export const ANY_SOURCE = -1;

/** One (interface, group) of one fd. */
export interface Entry {
  readonly ifaceIdx: number;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** {@linkcode ANY_SOURCE}, the number of sources joined, or 0: none. */
  state: number;
  /** The next entry of the same hash. */
  next: Entry | undefined;
  /** The groups of the fd this entry belongs to. */
  readonly owner: FdGroups;
}

/** The entries of one fd. */
export interface FdGroups {
  readonly byHash: Map<number, Entry>;
  /** Entries whose state is 0. */
  idle: number;
}

const byFd = new Map<number, FdGroups>();
const SWEEP_AT = 256;

function word(g: Uint8Array, i: number): number {
  return (g[i] << 24 | g[i + 1] << 16 | g[i + 2] << 8 | g[i + 3]) >>> 0;
}

function hash(
  ifaceIdx: number,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
) {
  let h = Math.imul(ifaceIdx ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w0, 0xcc9e2d51);
  h = Math.imul(h ^ w1, 0xcc9e2d51);
  h = Math.imul(h ^ w2, 0xcc9e2d51);
  h = Math.imul(h ^ w3, 0x1b873593);
  return (h ^ (h >>> 15)) & 0x3fffffff; // a small integer key
}

// The entry found or made last, and its fd: a leave right after its join
// (or joins of one group on many sockets' turn) skips the hash and the maps.
// Fields of a const object rather than module-level `let`s, which cost V8 a
// builtin call per store.
const last: { fd: number; entry: Entry | undefined } = {
  fd: -1,
  entry: undefined,
};

/** The entry of (interface, group) on `fd`, if netjoin recorded one. */
export function lookup(
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
): Entry | undefined {
  // Small enough to inline: the last entry, compared word by word.
  const e = last.entry;
  if (
    e !== undefined && fd === last.fd && e.ifaceIdx === ifaceIdx &&
    e.w0 === word(g, 0) && e.w1 === word(g, 4) && e.w2 === word(g, 8) &&
    e.w3 === word(g, 12)
  ) return e;
  return search(fd, ifaceIdx, g);
}

/** {@linkcode lookup} past the last entry: the fd's hash chains. */
function search(
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
): Entry | undefined {
  const groups = byFd.get(fd);
  if (groups === undefined) return undefined;
  const w0 = word(g, 0), w1 = word(g, 4), w2 = word(g, 8), w3 = word(g, 12);
  let e = groups.byHash.get(hash(ifaceIdx, w0, w1, w2, w3));
  while (
    e !== undefined &&
    (e.ifaceIdx !== ifaceIdx || e.w0 !== w0 || e.w1 !== w1 || e.w2 !== w2 ||
      e.w3 !== w3)
  ) e = e.next;
  if (e !== undefined) {
    last.fd = fd;
    last.entry = e;
  }
  return e;
}

/** The recorded state of (interface, group) on `fd`; 0 when none. */
export function getState(fd: number, ifaceIdx: number, g: Uint8Array): number {
  return lookup(fd, ifaceIdx, g)?.state ?? 0;
}

/**
 * Records the state of (interface, group) on `fd`. `entry` must be its
 * {@linkcode lookup} result: with `undefined` a new entry is made. State 0
 * keeps an existing entry, idle, until a sweep drops it. Returns the entry
 * that holds the state, if one does.
 */
export function setState(
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  state: number,
  entry: Entry | undefined,
): Entry | undefined {
  if (entry === undefined) {
    return state === 0 ? undefined : add(fd, ifaceIdx, g, state);
  }
  const groups = entry.owner;
  const was = entry.state;
  entry.state = state;
  if (was === 0) {
    if (state !== 0) groups.idle--;
  } else if (state === 0 && ++groups.idle >= SWEEP_AT) sweep(groups);
  return entry;
}

/** Makes the entry of a group `fd` holds for the first time (or again after
 * a sweep). */
function add(
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  state: number,
): Entry {
  let groups = byFd.get(fd);
  if (groups === undefined) {
    byFd.set(fd, groups = { byHash: new Map(), idle: 0 });
  }
  const w0 = word(g, 0), w1 = word(g, 4), w2 = word(g, 8), w3 = word(g, 12);
  const h = hash(ifaceIdx, w0, w1, w2, w3);
  const made: Entry = {
    ifaceIdx,
    w0,
    w1,
    w2,
    w3,
    state,
    next: groups.byHash.get(h),
    owner: groups,
  };
  groups.byHash.set(h, made);
  last.fd = fd;
  last.entry = made;
  return made;
}

/** Drops the entries of groups no longer joined. */
function sweep(groups: FdGroups): void {
  last.entry = undefined; // it may be one of the entries dropped
  for (const [h, first] of groups.byHash) {
    let head: Entry | undefined;
    let tail: Entry | undefined;
    for (let e: Entry | undefined = first; e !== undefined; e = e.next) {
      if (e.state === 0) continue;
      if (tail === undefined) head = e;
      else tail.next = e;
      tail = e;
    }
    if (tail !== undefined) tail.next = undefined;
    if (head === undefined) groups.byHash.delete(h);
    else groups.byHash.set(h, head);
  }
  groups.idle = 0;
}

/** Forgets everything recorded for `fd` (closed, or not a socket). */
export function forgetFd(fd: number): void {
  if (fd === last.fd) last.entry = undefined;
  // An entry held elsewhere (the struct buffers remember the last one) then
  // keeps only itself alive, not the fd's other entries through its owner.
  byFd.get(fd)?.byHash.clear();
  byFd.delete(fd);
}
