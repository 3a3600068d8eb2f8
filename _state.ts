/**
 * Per-fd bookkeeping of the memberships netjoin made. The kernel does not say
 * cheaply which mode a socket's membership is in, so netjoin remembers what
 * it joined, to refuse the calls Linux would carry out wrongly. Joins made on
 * the same fd by other code are not seen.
 *
 * @module
 */

/** The state of a group joined from any source. */
export const ANY_SOURCE = -1;

/**
 * fd -> key of (interface index, group) -> {@linkcode ANY_SOURCE}, or the
 * number of sources netjoin joined.
 */
const byFd = new Map<number, Map<string, number>>();

/** A key for (interface index, group) of one string allocation. */
export function groupKey(ifaceIdx: number, g: Uint8Array): string {
  return String.fromCharCode(
    ifaceIdx & 0xffff,
    ifaceIdx >>> 16,
    g[0] << 8 | g[1],
    g[2] << 8 | g[3],
    g[4] << 8 | g[5],
    g[6] << 8 | g[7],
    g[8] << 8 | g[9],
    g[10] << 8 | g[11],
    g[12] << 8 | g[13],
    g[14] << 8 | g[15],
  );
}

/** The recorded state of a group on `fd`, or undefined when none. */
export function getState(fd: number, key: string): number | undefined {
  return byFd.get(fd)?.get(key);
}

/** Records the state of a group on `fd`; 0 or undefined forgets it. */
export function setState(fd: number, key: string, state?: number): void {
  let groups = byFd.get(fd);
  if (state === undefined || state === 0) {
    groups?.delete(key);
    return;
  }
  if (groups === undefined) byFd.set(fd, groups = new Map());
  groups.set(key, state);
}

/** Forgets everything recorded for `fd` (closed, or not a socket). */
export function forgetFd(fd: number): void {
  byFd.delete(fd);
}
