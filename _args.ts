/**
 * Argument checks shared by the public functions: each either returns the
 * value in the form the encoders take or throws a `TypeError`/`RangeError`
 * that quotes the bad value. None of them makes a system call.
 *
 * @module
 */
import { formatIPv6, parseIPv6Into } from "./_address.ts";

const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;

/** Quotes a value of any type for an error message. */
export function quote(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) {
    return value.length === 16
      ? `bytes of ${formatIPv6(value)}`
      : `${value.length} bytes`;
  }
  if (typeof value === "symbol" || typeof value === "function") {
    return typeof value;
  }
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

// The checks below sit on the hot path of every join and leave. Each keeps
// the accepting test small enough for V8 to inline into its caller, and
// builds its error in a separate function, run only when it throws.

/** Checks a file descriptor: an integer from 0 to 2^31-1. */
export function checkFd(fd: unknown): number {
  if (
    typeof fd === "number" && fd >= 0 && fd <= INT32_MAX && Number.isInteger(fd)
  ) return fd;
  throw notUint32("fd", fd);
}

/** Checks an interface index: an integer from 0 to 2^32-1. */
export function checkIfaceIdx(ifaceIdx: unknown): number {
  if (
    typeof ifaceIdx === "number" && ifaceIdx >= 0 && ifaceIdx <= UINT32_MAX &&
    Number.isInteger(ifaceIdx)
  ) return ifaceIdx;
  throw notUint32("ifaceIdx", ifaceIdx);
}

function notUint32(name: string, value: unknown): Error {
  return typeof value !== "number"
    ? new TypeError(`${name} must be a number, got ${quote(value)}`)
    : new RangeError(
      `${name} must be a non-negative 32-bit integer, got ${quote(value)}`,
    );
}

/** True for ::ffff:0:0/96, IPv4 addresses written as IPv6. */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function isUnspecified(b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (b[i] !== 0) return false;
  return true;
}

const DOTTED_V4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Turns text or bytes into 16 bytes, or throws naming `what`. Text is parsed
 * into `into`, a scratch buffer the caller owns, so parsing allocates
 * nothing; bytes are returned as given.
 */
function toBytes(value: unknown, what: string, into: Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== 16) {
      throw new RangeError(
        `${what} must be 16 bytes, got ${value.length} bytes`,
      );
    }
    return value;
  }
  if (typeof value === "string") {
    if (parseIPv6Into(value, into)) return into;
    if (DOTTED_V4.test(value)) {
      throw new TypeError(
        `${what} ${quote(value)} is an IPv4 address: netjoin joins IPv6 groups`,
      );
    }
    throw new TypeError(`${what} ${quote(value)} is not an IPv6 address`);
  }
  throw new TypeError(
    `${what} must be an IPv6 address as text or 16 bytes, got ${quote(value)}`,
  );
}

/** Scratch for a group given as text; valid until the next call. */
const groupScratch = new Uint8Array(16);
/** The text whose checked bytes `groupScratch` holds: the same text again
 * (a join, then its leave) is not parsed twice. */
let groupText: string | undefined;
/** One 16-byte view per source given as text, into one growing buffer. */
let sourceScratch: Uint8Array[] = [];
/** The text whose checked bytes each source slot holds. */
let sourceText: (string | undefined)[] = [];

function sourceSlot(index: number): Uint8Array {
  if (index >= sourceScratch.length) {
    const size = Math.max(8, sourceScratch.length * 2, index + 1);
    const pool = new Uint8Array(size * 16);
    sourceScratch = Array.from(
      { length: size },
      (_, i) => pool.subarray(i * 16, i * 16 + 16),
    );
    sourceText = [];
  }
  return sourceScratch[index];
}

/**
 * Checks a group: an IPv6 multicast address (ff00::/8), text or bytes. A
 * group given as text comes back in a scratch buffer, valid until the next
 * call.
 */
export function toGroup(value: unknown): Uint8Array {
  // The byte fast path first: a join with 16-byte groups parses nothing.
  if (
    value instanceof Uint8Array && value.length === 16 && value[0] === 0xff
  ) {
    return value;
  }
  if (typeof value === "string" && value === groupText) return groupScratch;
  return parseGroup(value);
}

/** {@linkcode toGroup} past its fast paths: parses and checks. */
function parseGroup(value: unknown): Uint8Array {
  groupText = undefined; // the scratch is about to change
  const bytes = toBytes(value, "Group", groupScratch);
  if (bytes[0] !== 0xff) {
    const kind = isV4Mapped(bytes) ? "an IPv4-mapped address" : "not multicast";
    throw new RangeError(
      `Group ${
        quote(value)
      } is ${kind}: an IPv6 multicast group is in ff00::/8`,
    );
  }
  if (typeof value === "string") groupText = value;
  return bytes;
}

/**
 * Checks a source: a unicast IPv6 address, text or bytes. Text is parsed
 * into scratch slot `slot`, valid until the next call.
 */
export function toSource(value: unknown, slot: number): Uint8Array {
  // The byte fast path: neither multicast (ff00::/8) nor in ::/8, where the
  // unspecified and IPv4-mapped addresses are.
  if (value instanceof Uint8Array && value.length === 16) {
    const b0 = value[0];
    if (b0 !== 0 && b0 !== 0xff) return value;
  } else if (typeof value === "string" && sourceText[slot] === value) {
    return sourceScratch[slot]; // checked already
  }
  return parseSource(value, slot);
}

/** {@linkcode toSource} past its fast paths: parses and checks. */
function parseSource(value: unknown, slot: number): Uint8Array {
  const text = typeof value === "string";
  if (text) {
    sourceSlot(slot);
    sourceText[slot] = undefined;
  }
  const bytes = toBytes(
    value,
    "Source",
    text ? sourceScratch[slot] : groupScratch,
  );
  if (bytes[0] === 0xff) {
    throw new RangeError(
      `Source ${quote(value)} is a multicast address: a source is unicast`,
    );
  }
  if (isUnspecified(bytes)) {
    throw new RangeError(
      `Source ${quote(value)} is the unspecified address: a source is unicast`,
    );
  }
  if (isV4Mapped(bytes)) {
    throw new RangeError(
      `Source ${
        quote(value)
      } is an IPv4-mapped address: IPv6 groups take IPv6 sources`,
    );
  }
  if (text) sourceText[slot] = value as string;
  return bytes;
}

/** A 16-character key for 16 address bytes. */
export function addressKey(b: Uint8Array): string {
  return String.fromCharCode(
    b[0] << 8 | b[1],
    b[2] << 8 | b[3],
    b[4] << 8 | b[5],
    b[6] << 8 | b[7],
    b[8] << 8 | b[9],
    b[10] << 8 | b[11],
    b[12] << 8 | b[13],
    b[14] << 8 | b[15],
  );
}

/**
 * Runs a `sources` iterable that is not an array to its end, into a new
 * array, and returns that; returns anything else as it is. Called before any
 * address is checked: iterating may run the caller's code, which may call
 * join() or leave() again and reuse the scratch buffers.
 */
export function sourceList(sources: unknown): unknown {
  return sources === undefined || sources === null || Array.isArray(sources)
    ? sources
    : readIterable(sources);
}

function readIterable(sources: unknown): unknown {
  if (
    typeof sources === "object" && !(sources instanceof Uint8Array) &&
    typeof (sources as { [Symbol.iterator]?: unknown })[Symbol.iterator] ===
      "function"
  ) return Array.from(sources as Iterable<unknown>);
  return sources; // not iterable: toSources says why
}

/**
 * Checks the sources argument: `undefined`/`null` or an iterable of
 * addresses. Writes the distinct sources, in first-seen order (duplicates
 * collapse), to `out` from index 0 and returns their count; sources given as
 * text come back in scratch buffers, valid until the next call. `out` never
 * shrinks: entries past the count are stale.
 */
export function toSources(sources: unknown, out: Uint8Array[]): number {
  if (sources === undefined || sources === null) return 0;
  if (Array.isArray(sources) && sources.length === 1) {
    out[0] = toSource(sources[0], 0); // one source: nothing to collapse
    return 1;
  }
  return manySources(sources, out);
}

/** {@linkcode toSources} for anything but no source or an array of one. */
function manySources(sources: unknown, out: Uint8Array[]): number {
  if (typeof sources === "string" || sources instanceof Uint8Array) {
    throw new TypeError(
      `sources must be an iterable of addresses, got ${
        quote(sources)
      }: wrap a single source in an array`,
    );
  }
  let n = 0;
  if (Array.isArray(sources)) {
    for (; n < sources.length; n++) out[n] = toSource(sources[n], n);
  } else if (
    typeof (sources as { [Symbol.iterator]?: unknown })[Symbol.iterator] ===
      "function"
  ) {
    for (const source of sources as Iterable<unknown>) {
      out[n] = toSource(source, n);
      n++;
    }
  } else {
    throw new TypeError(
      `sources must be an iterable of addresses, got ${quote(sources)}`,
    );
  }
  if (n > 1) {
    const seen = new Set<string>();
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const key = addressKey(out[i]);
      if (seen.has(key)) continue;
      seen.add(key);
      out[kept++] = out[i];
    }
    n = kept;
  }
  return n;
}
