/**
 * Pure encoders for the IPv6 multicast option structs passed to `setsockopt`,
 * and two in-place updates for the hot path.
 *
 * Internal module. Each encoder maps a {@linkcode Platform} and plain values to
 * the exact bytes the platform's kernel expects: `struct sockaddr_in6`,
 * `struct ipv6_mreq`, `struct group_req` and `struct group_source_req`.
 * Nothing here performs I/O or FFI.
 *
 * Byte order: the Linux `sin6_family` (u16) and every interface index / scope
 * id (u32) are host order, which is little-endian on every platform
 * {@linkcode detectPlatform} accepts; the port is written in network order;
 * address bytes are copied as given (already network order).
 *
 * ## Preconditions (not checked, for speed)
 * - `addr`, `group` and `source` are 16-byte `Uint8Array`s (the caller
 *   validates addresses before encoding).
 * - `ifindex` and `scopeId` are integers in 0..2^32-1; `port` in 0..65535.
 *
 * ## Buffer reuse rule
 * Without `out`, an encoder allocates a new zero-filled array of exactly the
 * struct size. With `out` (the hot path), nothing is allocated: `out` may be
 * longer than the struct (only bytes `[0, size)` are written; pass the
 * struct size, not `out.length`, to `setsockopt`); a shorter one throws
 * `RangeError`.
 *
 * On each call an encoder writes every byte of the struct **except the unused
 * tail of each `sockaddr_storage`** (bytes 28..127 of `gr_group`, `gsr_group`
 * and `gsr_source`): the interface index, the padding after it, and all 28
 * bytes of each embedded `sockaddr_in6` (length/family, port, flowinfo,
 * address, scope id). No encoder in this module ever writes a storage tail,
 * so those bytes stay zero from allocation. Writing them on every call would
 * roughly double the cost of encoding a `group_source_req`.
 *
 * Hence a reused `out` encodes exactly like a fresh buffer provided that it was
 * zero-filled when created (`new Uint8Array(n)`) and is written only by these
 * encoders, for one platform, with `encodeSockaddrIn6` at offset 0. Any mix of
 * the four encoders into one such buffer is safe: for a given platform, every
 * byte one of them writes lies outside the storage tails of the others. Do not
 * hand in a buffer with other contents (use `out.fill(0)` first).
 *
 * ## Updates
 * The two `updateGroupSourceReq*` functions are not encoders: they rewrite
 * only the interface index and group, or only the source, of a
 * `group_source_req` that {@linkcode encodeGroupSourceReq} already wrote into
 * the buffer for the same platform. They are the join and leave hot path,
 * where the rest of the struct never changes.
 *
 * @module
 */

import type { Platform } from "./_platform.ts";

/** `sizeof(struct sockaddr_in6)` on every supported platform. */
export const SOCKADDR_IN6_SIZE = 28;

/** Offset of `sin6_addr` in a `sockaddr_in6` on every supported platform. */
const SIN6_ADDR_OFFSET = 8;

/** `sizeof(struct ipv6_mreq)` on every supported platform: address @0, ifindex u32 @16. */
export const IPV6_MREQ_SIZE = 20;

/** Copies the 16 bytes of `addr` to `out[at..at+15]`, unrolled: about a
 * third faster than a loop, and much faster than `set` for 16 bytes. */
function copy16(out: Uint8Array, at: number, addr: Uint8Array): void {
  out[at] = addr[0];
  out[at + 1] = addr[1];
  out[at + 2] = addr[2];
  out[at + 3] = addr[3];
  out[at + 4] = addr[4];
  out[at + 5] = addr[5];
  out[at + 6] = addr[6];
  out[at + 7] = addr[7];
  out[at + 8] = addr[8];
  out[at + 9] = addr[9];
  out[at + 10] = addr[10];
  out[at + 11] = addr[11];
  out[at + 12] = addr[12];
  out[at + 13] = addr[13];
  out[at + 14] = addr[14];
  out[at + 15] = addr[15];
}

/** Writes `v` as a little-endian u32 at `out[at..at+3]`. */
function putU32LE(out: Uint8Array, at: number, v: number): void {
  out[at] = v;
  out[at + 1] = v >>> 8;
  out[at + 2] = v >>> 16;
  out[at + 3] = v >>> 24;
}

/** Writes all 28 bytes of a `sockaddr_in6` at `out[at..at+27]`. */
function putSockaddrIn6(
  p: Platform,
  out: Uint8Array,
  at: number,
  addr: Uint8Array,
  port: number,
  scopeId: number,
): void {
  if (p.sockaddrIn6HasLen) {
    out[at] = SOCKADDR_IN6_SIZE; // sin6_len
    out[at + 1] = p.AF_INET6; // sin6_family (u8)
  } else {
    out[at] = p.AF_INET6; // sin6_family (u16, little-endian)
    out[at + 1] = p.AF_INET6 >>> 8;
  }
  out[at + 2] = port >>> 8; // sin6_port, network order
  out[at + 3] = port;
  out[at + 4] = 0; // sin6_flowinfo
  out[at + 5] = 0;
  out[at + 6] = 0;
  out[at + 7] = 0;
  copy16(out, at + SIN6_ADDR_OFFSET, addr); // sin6_addr
  putU32LE(out, at + 24, scopeId); // sin6_scope_id
}

/** Returns `out`, or a fresh zeroed array when absent; throws when `out` is shorter than `size`. */
function target(
  out: Uint8Array | undefined,
  size: number,
  what: string,
): Uint8Array {
  if (out === undefined) return new Uint8Array(size);
  if (out.length < size) {
    throw new RangeError(
      `${what} needs ${size} bytes, got a buffer of ${out.length}`,
    );
  }
  return out;
}

/**
 * Encodes a `struct sockaddr_in6` (28 bytes) at `out[offset..offset+27]`.
 *
 * All 28 bytes are written: `sin6_len` + one-byte family on the BSDs or a u16
 * family on Linux, the port in network order, a zero flowinfo, the address,
 * and the scope id.
 *
 * @param p Target platform.
 * @param addr IPv6 address, 16 bytes in network order (precondition).
 * @param port UDP port, 0..65535 (default 0).
 * @param scopeId Interface index for link-local scopes (default 0).
 * @param out Optional buffer of at least `offset + 28` bytes, written in place.
 * @param offset Byte offset in `out` (default 0).
 * @returns `out` itself (the whole buffer), or a new 28-byte array.
 * @throws {RangeError} if `out` is too short.
 */
export function encodeSockaddrIn6(
  p: Platform,
  addr: Uint8Array,
  port: number = 0,
  scopeId: number = 0,
  out?: Uint8Array,
  offset: number = 0,
): Uint8Array {
  const buf = target(out, offset + SOCKADDR_IN6_SIZE, "sockaddr_in6");
  putSockaddrIn6(p, buf, offset, addr, port, scopeId);
  return buf;
}

/**
 * Encodes a `struct ipv6_mreq` (20 bytes, same on every platform) for
 * `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP`: the group @0, the interface index
 * as a u32 @16. All 20 bytes are written.
 *
 * The platform argument keeps the encoders uniform; the layout does not
 * depend on it on any supported platform.
 *
 * @param _p Target platform (layout is identical on all of them).
 * @param group Multicast group, 16 bytes in network order (precondition).
 * @param ifindex Interface index (0 lets the kernel choose).
 * @param out Optional buffer of at least 20 bytes, written in place.
 * @returns `out` itself, or a new 20-byte array.
 * @throws {RangeError} if `out` is too short.
 */
export function encodeIpv6Mreq(
  _p: Platform,
  group: Uint8Array,
  ifindex: number,
  out?: Uint8Array,
): Uint8Array {
  const buf = target(out, IPV6_MREQ_SIZE, "ipv6_mreq");
  copy16(buf, 0, group);
  putU32LE(buf, 16, ifindex);
  return buf;
}

/**
 * Encodes a `struct group_req` for `MCAST_JOIN_GROUP` / `MCAST_LEAVE_GROUP`:
 * `gr_interface` u32 @0 and a `sockaddr_in6` (port 0, scope id 0) at
 * `p.grGroupOffset` inside a 128-byte `sockaddr_storage`; `p.groupReqSize`
 * bytes in all (136, or 132 on Darwin). The storage tail is not written
 * (see the module's buffer reuse rule).
 *
 * @param p Target platform.
 * @param ifindex Interface index (the BSDs refuse 0, see `p.mcastRefusesIfindexZero`).
 * @param group Multicast group, 16 bytes in network order (precondition).
 * @param out Optional zero-initialised buffer of at least `p.groupReqSize` bytes.
 * @returns `out` itself, or a new array of `p.groupReqSize` bytes.
 * @throws {RangeError} if `out` is too short.
 */
export function encodeGroupReq(
  p: Platform,
  ifindex: number,
  group: Uint8Array,
  out?: Uint8Array,
): Uint8Array {
  const buf = target(out, p.groupReqSize, "group_req");
  putU32LE(buf, 0, ifindex);
  for (let i = 4; i < p.grGroupOffset; i++) buf[i] = 0; // alignment padding (not on Darwin)
  putSockaddrIn6(p, buf, p.grGroupOffset, group, 0, 0);
  return buf;
}

/**
 * Encodes a `struct group_source_req` for `MCAST_JOIN_SOURCE_GROUP`,
 * `MCAST_LEAVE_SOURCE_GROUP`, `MCAST_BLOCK_SOURCE` and `MCAST_UNBLOCK_SOURCE`:
 * `gsr_interface` u32 @0, then two `sockaddr_storage`s holding a
 * `sockaddr_in6` each (port 0, scope id 0) at `p.gsrGroupOffset` and
 * `p.gsrSourceOffset`; `p.groupSourceReqSize` bytes in all (264, or 260 on
 * Darwin). The storage tails are not written (see the module's buffer reuse
 * rule).
 *
 * @param p Target platform.
 * @param ifindex Interface index (the BSDs refuse 0, see `p.mcastRefusesIfindexZero`).
 * @param group Multicast group, 16 bytes in network order (precondition).
 * @param source Source address, 16 bytes in network order (precondition).
 * @param out Optional zero-initialised buffer of at least `p.groupSourceReqSize` bytes.
 * @returns `out` itself, or a new array of `p.groupSourceReqSize` bytes.
 * @throws {RangeError} if `out` is too short.
 */
export function encodeGroupSourceReq(
  p: Platform,
  ifindex: number,
  group: Uint8Array,
  source: Uint8Array,
  out?: Uint8Array,
): Uint8Array {
  const buf = target(out, p.groupSourceReqSize, "group_source_req");
  putU32LE(buf, 0, ifindex);
  for (let i = 4; i < p.gsrGroupOffset; i++) buf[i] = 0; // alignment padding (not on Darwin)
  putSockaddrIn6(p, buf, p.gsrGroupOffset, group, 0, 0);
  putSockaddrIn6(p, buf, p.gsrSourceOffset, source, 0, 0);
  return buf;
}

/**
 * Rewrites the interface index and the group of the `group_source_req` in
 * `out`, and nothing else: the hot path of a join or leave. Every other
 * byte of the group's half (family, port, flowinfo, scope id, padding) is the
 * same for every group on a platform, so `out` must already hold a
 * `group_source_req` that {@linkcode encodeGroupSourceReq} wrote for the same
 * platform `p`; then `out` is what `encodeGroupSourceReq` would write with
 * these values and the source `out` held.
 *
 * @param p Target platform: the one `out` was encoded for.
 * @param ifindex Interface index.
 * @param group Multicast group, 16 bytes in network order (precondition).
 * @param out A buffer `encodeGroupSourceReq(p, ...)` wrote (precondition).
 * @throws {RangeError} if `out` is too short.
 */
export function updateGroupSourceReqGroup(
  p: Platform,
  ifindex: number,
  group: Uint8Array,
  out: Uint8Array,
): void {
  if (out.length < p.groupSourceReqSize) tooShort(p, out);
  putU32LE(out, 0, ifindex);
  copy16(out, p.gsrGroupOffset + SIN6_ADDR_OFFSET, group);
}

/**
 * Rewrites the source address of the `group_source_req` in `out`, and
 * nothing else, under the precondition of
 * {@linkcode updateGroupSourceReqGroup}: one join or leave sends one struct
 * per source, differing in the source only.
 *
 * @param p Target platform: the one `out` was encoded for.
 * @param source Source address, 16 bytes in network order (precondition).
 * @param out A buffer `encodeGroupSourceReq(p, ...)` wrote (precondition).
 * @throws {RangeError} if `out` is too short.
 */
export function updateGroupSourceReqSource(
  p: Platform,
  source: Uint8Array,
  out: Uint8Array,
): void {
  if (out.length < p.groupSourceReqSize) tooShort(p, out);
  copy16(out, p.gsrSourceOffset + SIN6_ADDR_OFFSET, source);
}

function tooShort(p: Platform, out: Uint8Array): never {
  throw new RangeError(
    `group_source_req needs ${p.groupSourceReqSize} bytes, got a buffer of ${out.length}`,
  );
}
