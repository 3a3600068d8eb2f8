/**
 * IPv6 address text parsing and formatting (internal).
 *
 * - {@linkcode parseIPv6} accepts exactly the RFC 4291 section 2.2 text forms
 *   (full, `::`-compressed, embedded dotted-quad IPv4 tail) and nothing else:
 *   no zone ids (`%eth0`; the interface is passed separately in our API), no
 *   brackets, no prefix lengths, no surrounding whitespace. Dotted-quad
 *   octets are decimal 0-255 without leading zeros (RFC 3986 `dec-octet`,
 *   the same rule as Node's `net.isIPv6`), so `::ffff:1.2.3.04` is rejected
 *   rather than guessed as octal or decimal.
 * - {@linkcode formatIPv6} produces RFC 5952 canonical text.
 * - {@linkcode parseHex32} reads the 32-hex-digit form used by
 *   `/proc/net/igmp6` and `/proc/net/mcfilter6`.
 *
 * The parser is on the hot path of joins given as text, so it is a single
 * pass over char codes that allocates only the returned array.
 *
 * @example Parse, format and read the procfs form
 * ```ts
 * import { formatIPv6, parseHex32, parseIPv6 } from "./_address.ts";
 *
 * const group = parseIPv6("FF02:0:0:0:0:0:0:FB")!;
 * formatIPv6(group); // "ff02::fb"
 * parseHex32("ff0200000000000000000000000000fb"); // same bytes as `group`
 * ```
 *
 * @module
 */

const COLON = 58;
const DOT = 46;
const ZERO = 48;

/** Longest accepted text: six 4-digit groups plus a maximal dotted quad. */
const MAX_TEXT_LENGTH = 45; // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

/** Value of an ASCII hex digit, or -1 for any other char code. */
function hexValue(c: number): number {
  const d = c - ZERO;
  if (d >= 0 && d <= 9) return d;
  const l = (c | 32) - 97; // fold ASCII upper case onto lower case
  if (l >= 0 && l <= 5) return l + 10;
  return -1;
}

/**
 * Parses a dotted quad occupying `text[start..end)` into `out[at..at+4)`.
 * Returns false unless it is exactly four decimal octets 0-255 without
 * leading zeros.
 */
function parseDottedQuad(
  text: string,
  start: number,
  end: number,
  out: Uint8Array,
  at: number,
): boolean {
  let i = start;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= end || text.charCodeAt(i) !== DOT) return false;
      i++;
    }
    const first = i;
    let value = 0;
    while (i < end) {
      const d = text.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
      i++;
      if (i - first > 3) return false;
    }
    const digits = i - first;
    if (digits === 0 || value > 255) return false;
    if (digits > 1 && text.charCodeAt(first) === ZERO) return false;
    out[at + octet] = value;
  }
  return i === end;
}

/**
 * Parses IPv6 text into a new 16-byte array in network order; undefined when
 * the text is not an IPv6 address.
 *
 * Accepts every RFC 4291 text form: eight groups of 1-4 hex digits in any
 * case, one `::` anywhere standing for one or more zero groups, and a
 * dotted-quad IPv4 tail for the last 32 bits (octets 0-255, no leading
 * zeros). Rejects anything else, including zone ids (`fe80::1%eth0`),
 * brackets, prefix lengths and surrounding whitespace. Never throws.
 *
 * @param text Candidate address text.
 * @returns The 16 address bytes, or undefined when `text` is not an address.
 *
 * @example Compressed form and an IPv4-mapped address
 * ```ts
 * import { parseIPv6 } from "./_address.ts";
 *
 * parseIPv6("ff02::1"); // Uint8Array [0xff, 0x02, 0, ..., 0, 0x01]
 * parseIPv6("::ffff:192.0.2.1"); // [0, ..., 0, 0xff, 0xff, 192, 0, 2, 1]
 * parseIPv6("fe80::1%eth0"); // undefined
 * ```
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  return parseIPv6Into(text, out) ? out : undefined;
}

/**
 * Parses IPv6 text like {@linkcode parseIPv6}, into the first 16 bytes of
 * `out` instead of a new array, so a hot path allocates nothing. Returns
 * whether `text` is an address; on false, `out` holds garbage.
 *
 * @param text Candidate address text.
 * @param out At least 16 bytes to write the address to, in network order.
 * @returns True when `text` is an IPv6 address.
 *
 * @example
 * ```ts
 * import { parseIPv6Into } from "./_address.ts";
 *
 * const out = new Uint8Array(16);
 * parseIPv6Into("ff3e::1", out); // true, out holds ff3e::1
 * ```
 */
export function parseIPv6Into(text: string, out: Uint8Array): boolean {
  if (typeof text !== "string") return false;
  const len = text.length;
  if (len < 2 || len > MAX_TEXT_LENGTH) return false;

  let i = 0;
  let groups = 0; // 16-bit groups written so far
  let gap = -1; // group index where "::" stands, or -1

  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
    if (i === len) {
      out.fill(0, 0, 16); // "::"
      return true;
    }
  }

  for (;;) {
    if (groups === 8) return false;
    const start = i;
    let value = 0;
    while (i < len) {
      const d = hexValue(text.charCodeAt(i));
      if (d < 0) break;
      value = (value << 4) | d;
      i++;
      if (i - start > 4) return false;
    }
    if (i === start) return false; // empty group: ":::" or stray ':'

    if (i < len && text.charCodeAt(i) === DOT) {
      // Dotted-quad tail: re-read this group as its first octet; it must run
      // to the end of the text and fill the last 32 bits.
      if (groups > 6) return false;
      if (!parseDottedQuad(text, start, len, out, groups * 2)) return false;
      groups += 2;
      break;
    }

    out[groups * 2] = value >> 8;
    out[groups * 2 + 1] = value & 0xff;
    groups++;
    if (i === len) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (i === len) return false; // single trailing ':'
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false; // second "::"
      gap = groups;
      i++;
      if (i === len) break; // trailing "::"
    }
  }

  if (gap < 0) return groups === 8;
  if (groups > 7) return false; // "::" must stand for at least one group

  // Slide the groups written after "::" to the end, zero-filling the gap.
  const shift = (8 - groups) * 2;
  for (let b = groups * 2 - 1; b >= gap * 2; b--) out[b + shift] = out[b];
  out.fill(0, gap * 2, gap * 2 + shift);
  return true;
}

/**
 * Formats 16 bytes (at offset) as RFC 5952 canonical text: lowercase hex, no
 * leading zeros, the longest run of two or more zero groups compressed to
 * `::` (the leftmost on a tie), and IPv4-mapped addresses (`::ffff:0:0/96`)
 * written with a dotted-quad tail.
 *
 * @param bytes Buffer holding the address in network order.
 * @param offset Index of the first address byte in `bytes` (default 0).
 * @returns The canonical text.
 * @throws {RangeError} If `offset` is not an integer or `bytes` holds fewer
 * than 16 bytes from `offset`.
 *
 * @example Canonical forms
 * ```ts
 * import { formatIPv6 } from "./_address.ts";
 *
 * formatIPv6(new Uint8Array(16)); // "::"
 * formatIPv6(Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)); // "2001:db8::1"
 * formatIPv6(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1)); // "::ffff:192.0.2.1"
 * ```
 */
export function formatIPv6(bytes: Uint8Array, offset: number = 0): string {
  if (
    !Number.isInteger(offset) || offset < 0 || offset + 16 > bytes.length
  ) {
    throw new RangeError(
      `formatIPv6: need 16 bytes at offset ${offset}, buffer has ${bytes.length}`,
    );
  }
  const o = offset;

  let mapped = bytes[o + 10] === 0xff && bytes[o + 11] === 0xff;
  for (let k = 0; mapped && k < 10; k++) mapped = bytes[o + k] === 0;
  if (mapped) {
    return `::ffff:${bytes[o + 12]}.${bytes[o + 13]}.${bytes[o + 14]}.${
      bytes[o + 15]
    }`;
  }

  // Longest run of zero groups (leftmost wins ties); shorter than 2 is kept.
  let bestStart = -1;
  let bestLength = 1;
  let runStart = -1;
  for (let g = 0; g <= 8; g++) {
    const zero = g < 8 && bytes[o + 2 * g] === 0 && bytes[o + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
    } else if (runStart >= 0) {
      if (g - runStart > bestLength) {
        bestStart = runStart;
        bestLength = g - runStart;
      }
      runStart = -1;
    }
  }

  let text = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += "::";
      g += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += ((bytes[o + 2 * g] << 8) | bytes[o + 2 * g + 1]).toString(16);
  }
  return text;
}

/**
 * Parses the 32-hex-digit form used by `/proc/net/igmp6` and
 * `/proc/net/mcfilter6` (no colons, either case) into 16 bytes; undefined if
 * malformed (wrong length or a non-hex character).
 *
 * @param hex Exactly 32 hex digits, most significant first.
 * @returns The 16 address bytes, or undefined.
 *
 * @example A line field from /proc/net/igmp6
 * ```ts
 * import { formatIPv6, parseHex32 } from "./_address.ts";
 *
 * formatIPv6(parseHex32("ff0200000000000000000000000000fb")!); // "ff02::fb"
 * parseHex32("ff02::fb"); // undefined
 * ```
 */
export function parseHex32(hex: string): Uint8Array | undefined {
  if (typeof hex !== "string" || hex.length !== 32) return undefined;
  const out = new Uint8Array(16);
  for (let b = 0; b < 16; b++) {
    const hi = hexValue(hex.charCodeAt(2 * b));
    const lo = hexValue(hex.charCodeAt(2 * b + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[b] = (hi << 4) | lo;
  }
  return out;
}
