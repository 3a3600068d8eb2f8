/**
 * `join` and `leave`: IPv6 any-source (*,G) and source-specific (S,G)
 * multicast memberships on a socket file descriptor, all or nothing.
 *
 * @example Join two sources of a group, then leave them
 * ```ts ignore
 * import { closeSocket, interfaceIndex, join, leave, openSocket } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000 });
 * const ifaceIdx = interfaceIndex("eth0");
 * join(fd, ifaceIdx, "ff3e::1234", ["2001:db8::1", "2001:db8::2"]);
 * // ... receive ...
 * leave(fd, ifaceIdx, "ff3e::1234", ["2001:db8::1", "2001:db8::2"]);
 * closeSocket(fd);
 * ```
 *
 * @module
 */
import { formatIPv6 } from "./_address.ts";
import {
  checkFd,
  checkIfaceIdx,
  sourceList,
  toGroup,
  toSources,
} from "./_args.ts";
import { errnoName, errnoNumber, kernelHint } from "./_errno.ts";
import type { Platform } from "./_platform.ts";
import {
  ANY_SOURCE,
  type Entry,
  forgetFd,
  lookup,
  setState,
} from "./_state.ts";
import {
  encodeGroupReq,
  encodeGroupSourceReq,
  encodeIpv6Mreq,
  updateGroupSourceReqGroup,
  updateGroupSourceReqSource,
} from "./_structs.ts";
import { NetjoinError } from "./errors.ts";
import { type Libc, libc } from "./ffi/mod.ts";

/** An IPv6 address: text such as `"ff3e::1234"`, or its 16 bytes in
 * network order. Byte addresses skip parsing. */
export type Address = string | Uint8Array;

// The struct buffers: views into one ArrayBuffer made once, off the JS heap
// (it is over 64 bytes), so that their addresses, taken once, stay right.
// `gsr` is sized for the largest platform (Linux and FreeBSD
// group_source_req: 264 bytes); the length passed is the platform's.
const structs = new ArrayBuffer(288);
const gsr = new Uint8Array(structs, 0, 264);
const mreq = new Uint8Array(structs, 264, 20);
const scratch: Uint8Array[] = [];
/**
 * What the struct buffers hold. `libc`: the libc they are ready for, with
 * `gsr`'s constant fields written and the addresses `gsrPtr` and `mreqPtr`
 * taken. `gsrEntry` and `mreqEntry`: the bookkeeping entry whose interface
 * and group `gsr` and `mreq` hold, when known. An entry's interface and group
 * never change, so a join and its leave, or the next join of the group, need
 * not write them again. (Fields of a const object, not module-level `let`s:
 * V8 runs a builtin on every store to a module-level `let`.)
 */
const held: {
  libc: Libc | undefined;
  gsrPtr: unknown;
  mreqPtr: unknown;
  gsrEntry: Entry | undefined;
  mreqEntry: Entry | undefined;
} = {
  libc: undefined,
  gsrPtr: undefined,
  mreqPtr: undefined,
  gsrEntry: undefined,
  mreqEntry: undefined,
};

/** Readies the struct buffers for `n`: see {@linkcode held}. */
function ready(n: Libc): void {
  const zero = new Uint8Array(16);
  encodeGroupSourceReq(n.platform, 0, zero, zero, gsr);
  held.gsrEntry = held.mreqEntry = undefined; // nothing known is held yet
  held.gsrPtr = n.pointerOf(gsr);
  held.mreqPtr = n.pointerOf(mreq);
  held.libc = n;
}

/** Puts `ifaceIdx` and `g`, whose bookkeeping entry is `entry` (when
 * known), into `gsr`, ready for `n`. */
function encodeGroup(
  n: Libc,
  ifaceIdx: number,
  g: Uint8Array,
  entry: Entry | undefined,
): void {
  if (held.libc !== n) ready(n);
  if (entry === undefined || entry !== held.gsrEntry) {
    updateGroupSourceReqGroup(n.platform, ifaceIdx, g, gsr);
  }
  held.gsrEntry = entry;
}

/** Puts `g` and `ifaceIdx`, whose bookkeeping entry is `entry` (when known),
 * into `mreq`, ready for `n`. */
function encodeMreq(
  n: Libc,
  ifaceIdx: number,
  g: Uint8Array,
  entry: Entry | undefined,
): void {
  if (held.libc !== n) ready(n);
  if (entry === undefined || entry !== held.mreqEntry) {
    encodeIpv6Mreq(n.platform, g, ifaceIdx, mreq);
  }
  held.mreqEntry = entry;
}

/**
 * Joins `group` on interface `ifaceIdx` of the IPv6 UDP socket `fd`.
 *
 * Without sources (or with an empty iterable) this is one any-source (*,G)
 * join (`IPV6_JOIN_GROUP`). With sources it is one source-specific (S,G)
 * join per distinct source (`MCAST_JOIN_SOURCE_GROUP`, RFC 3678); duplicate
 * sources in one call collapse into one. An iterable that is not an array
 * is read to its end before anything else is checked.
 *
 * All or nothing: when the kernel refuses a source, the sources this call
 * joined are left again and a group the kernel left behind as INCLUDE{} is
 * cleaned up; sources joined by earlier calls stay. Bad arguments throw a
 * `TypeError` or `RangeError` before any system call.
 *
 * netjoin refuses an (S,G) join on a socket it any-source joined to the same
 * group on the same interface: Linux would accept it and silently turn the
 * membership into INCLUDE{S}. It cannot see joins other code made on `fd`.
 *
 * Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { interfaceIndex, join, openSocket } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000 });
 * join(fd, interfaceIndex("eth0"), "ff3e::1234", ["2001:db8::1"]);
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param ifaceIdx The interface index (0 lets Linux route the group; the
 * BSDs refuse 0 for source-specific joins).
 * @param group An IPv6 multicast address (ff00::/8).
 * @param sources Unicast source addresses; none for an any-source join.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused, or netjoin refused a mode switch.
 */
export function join(
  fd: number,
  ifaceIdx: number,
  group: Address,
  sources?: Iterable<Address> | null,
): void {
  checkFd(fd);
  checkIfaceIdx(ifaceIdx);
  const list = sourceList(sources);
  const g = toGroup(group);
  const count = toSources(list, scratch);
  const n = libc();
  if (count === 0) joinAnySource(n, fd, ifaceIdx, g);
  else joinSources(n, fd, ifaceIdx, g, scratch, count);
}

/**
 * Leaves what {@linkcode join} joined. Without sources (or with an empty
 * iterable) it leaves the group entirely, whatever its mode
 * (`IPV6_LEAVE_GROUP`). With sources it leaves each distinct source
 * (`MCAST_LEAVE_SOURCE_GROUP`); the group goes with its last source.
 *
 * All or nothing: when the kernel refuses a source, the sources this call
 * left are joined again. netjoin refuses a source-specific leave on a socket
 * it any-source joined to the group: Linux would report a failure yet switch
 * the membership to INCLUDE{}, stopping reception.
 *
 * Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { leave } from "@netjoin/netjoin";
 *
 * leave(fd, ifaceIdx, "ff3e::1234", ["2001:db8::1"]);
 * leave(fd, ifaceIdx, "ff3e::1234"); // the whole group, any mode
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param ifaceIdx The interface index the group was joined on.
 * @param group The IPv6 multicast group.
 * @param sources The sources to leave; none to leave the group.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused, or netjoin refused a mode switch.
 */
export function leave(
  fd: number,
  ifaceIdx: number,
  group: Address,
  sources?: Iterable<Address> | null,
): void {
  checkFd(fd);
  checkIfaceIdx(ifaceIdx);
  const list = sourceList(sources);
  const g = toGroup(group);
  const count = toSources(list, scratch);
  const n = libc();
  if (count === 0) leaveGroup(n, fd, ifaceIdx, g);
  else leaveSources(n, fd, ifaceIdx, g, scratch, count);
}

function joinAnySource(n: Libc, fd: number, ifaceIdx: number, g: Uint8Array) {
  const p = n.platform;
  const entry = lookup(fd, ifaceIdx, g);
  encodeMreq(n, ifaceIdx, g, entry);
  if (
    n.symbols.setsockopt_ptr(
      fd,
      p.IPPROTO_IPV6,
      p.IPV6_JOIN_GROUP,
      held.mreqPtr,
      20,
    )
  ) {
    throw kernelError(n.errno(), "join", "IPV6_JOIN_GROUP", fd, ifaceIdx, g);
  }
  held.mreqEntry = setState(fd, ifaceIdx, g, ANY_SOURCE, entry);
}

function leaveGroup(n: Libc, fd: number, ifaceIdx: number, g: Uint8Array) {
  const p = n.platform;
  const entry = lookup(fd, ifaceIdx, g);
  encodeMreq(n, ifaceIdx, g, entry);
  const failed = n.symbols.setsockopt_ptr(
    fd,
    p.IPPROTO_IPV6,
    p.IPV6_LEAVE_GROUP,
    held.mreqPtr,
    20,
  );
  const errno = failed ? n.errno() : 0;
  // Joined or not before, the socket holds no membership of the group now.
  setState(fd, ifaceIdx, g, 0, entry);
  if (failed) {
    throw kernelError(errno, "leave", "IPV6_LEAVE_GROUP", fd, ifaceIdx, g);
  }
}

function joinSources(
  n: Libc,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  srcs: Uint8Array[],
  count: number,
) {
  const p = n.platform;
  if (ifaceIdx === 0 && p.mcastRefusesIfindexZero) throw ifindexZero(p);
  const entry = lookup(fd, ifaceIdx, g);
  const before = entry === undefined ? 0 : entry.state;
  if (before === ANY_SOURCE) {
    throw modeRefusal("join", "EADDRINUSE", fd, ifaceIdx, g, srcs[0]);
  }
  encodeGroup(n, ifaceIdx, g, entry);
  for (let i = 0; i < count; i++) {
    updateGroupSourceReqSource(p, srcs[i], gsr);
    if (
      n.symbols.setsockopt_ptr(
        fd,
        p.IPPROTO_IPV6,
        p.MCAST_JOIN_SOURCE_GROUP,
        held.gsrPtr,
        p.groupSourceReqSize,
      )
    ) throw sourceFailed("join", n, fd, ifaceIdx, g, srcs, i, count, before);
  }
  held.gsrEntry = setState(fd, ifaceIdx, g, before + count, entry);
}

function leaveSources(
  n: Libc,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  srcs: Uint8Array[],
  count: number,
) {
  const p = n.platform;
  const entry = lookup(fd, ifaceIdx, g);
  const before = entry === undefined ? 0 : entry.state;
  if (before === ANY_SOURCE) {
    throw modeRefusal("leave", "EADDRNOTAVAIL", fd, ifaceIdx, g, srcs[0]);
  }
  encodeGroup(n, ifaceIdx, g, entry);
  for (let i = 0; i < count; i++) {
    updateGroupSourceReqSource(p, srcs[i], gsr);
    if (
      n.symbols.setsockopt_ptr(
        fd,
        p.IPPROTO_IPV6,
        p.MCAST_LEAVE_SOURCE_GROUP,
        held.gsrPtr,
        p.groupSourceReqSize,
      )
    ) throw sourceFailed("leave", n, fd, ifaceIdx, g, srcs, i, count, before);
  }
  setState(fd, ifaceIdx, g, Math.max(0, before - count), entry);
}

/**
 * After source `i` of a join or leave failed: reads errno, reverses the
 * sources done before it, repairs what Linux does to the group when the first
 * source fails, and returns the error. Kept apart from joinSources and
 * leaveSources so that their hot path stays small.
 */
function sourceFailed(
  verb: "join" | "leave",
  n: Libc,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  srcs: Uint8Array[],
  i: number,
  count: number,
  before: number,
): NetjoinError {
  const errno = n.errno();
  const joining = verb === "join";
  const undone = undo(
    n,
    fd,
    srcs,
    i,
    joining ? "MCAST_LEAVE_SOURCE_GROUP" : "MCAST_JOIN_SOURCE_GROUP",
  );
  let extra = progress(joining ? "joined" : "left", i, count, undone);
  if (i === 0 && joining) {
    // Linux keeps a group whose first (S,G) failed as INCLUDE{}.
    dropEmptyInclude(n, fd, ifaceIdx, g);
  } else if (
    i === 0 && !joining && before === 0 && dropEmptyInclude(n, fd, ifaceIdx, g)
  ) {
    // An any-source membership made outside netjoin: Linux refused the
    // leave yet switched it to INCLUDE{}. Put it back.
    extra += restoreAnySource(n, fd, ifaceIdx, g);
  }
  return kernelError(
    errno,
    verb,
    joining ? "MCAST_JOIN_SOURCE_GROUP" : "MCAST_LEAVE_SOURCE_GROUP",
    fd,
    ifaceIdx,
    g,
    srcs[i],
    extra,
    joining ? before + i : 0,
  );
}

/** The BSDs' refusal of interface 0 for source-specific joins. */
function ifindexZero(p: Platform): RangeError {
  return new RangeError(
    `ifaceIdx must name an interface on ${p.os}, got 0: its kernel refuses 0 for source-specific joins`,
  );
}

/**
 * Reverses the first `count` sources of a call with `option`, last first;
 * `gsr` holds the call's interface and group. Returns what could not be
 * reversed, as text for the error message.
 */
function undo(
  n: Libc,
  fd: number,
  srcs: Uint8Array[],
  count: number,
  option: "MCAST_JOIN_SOURCE_GROUP" | "MCAST_LEAVE_SOURCE_GROUP",
): string[] {
  const p = n.platform;
  const failures: string[] = [];
  for (let j = count - 1; j >= 0; j--) {
    updateGroupSourceReqSource(p, srcs[j], gsr);
    if (
      n.symbols.setsockopt_ptr(
        fd,
        p.IPPROTO_IPV6,
        p[option],
        held.gsrPtr,
        p.groupSourceReqSize,
      )
    ) {
      failures.push(`${formatIPv6(srcs[j])} (${errnoName(n.errno())})`);
    }
  }
  return failures;
}

/** Describes how far a multi-source call got and what was reversed. */
function progress(
  verb: "joined" | "left",
  index: number,
  total: number,
  failures: string[],
): string {
  if (total === 1) return "";
  let text = ` (source ${index + 1} of ${total}`;
  if (index > 0) {
    const undoVerb = verb === "joined" ? "left" : "joined";
    const which = index === 1
      ? `the source ${verb} before it was`
      : `the ${index} sources ${verb} before it were`;
    text += failures.length === 0
      ? `; ${which} ${undoVerb} again`
      : `; undoing ${which.slice(4)} failed for ${failures.join(", ")}`;
  }
  return text + ")";
}

const MCAST_MSFILTER_LINUX = 48;
const GROUP_FILTER_SIZE_LINUX = 272;

/**
 * Linux only: when the socket holds `g` in INCLUDE mode with no source (a
 * state only the kernel's failure paths leave), leaves the group. Returns
 * whether it did.
 */
function dropEmptyInclude(
  n: Libc,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
): boolean {
  const p = n.platform;
  if (p.os !== "linux") return false;
  const filter = new Uint8Array(GROUP_FILTER_SIZE_LINUX);
  encodeGroupReq(p, ifaceIdx, g, filter.subarray(0, p.groupReqSize));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, filter.length, true);
  if (
    n.symbols.getsockopt(fd, p.IPPROTO_IPV6, MCAST_MSFILTER_LINUX, filter, len)
  ) {
    return false; // not joined at all
  }
  const view = new DataView(filter.buffer);
  const includeMode = view.getUint32(136, true) === 1;
  if (!includeMode || view.getUint32(140, true) !== 0) return false;
  encodeMreq(n, ifaceIdx, g, undefined);
  n.symbols.setsockopt_ptr(
    fd,
    p.IPPROTO_IPV6,
    p.IPV6_LEAVE_GROUP,
    held.mreqPtr,
    20,
  );
  return true;
}

/** Joins `g` from any source again; returns a note for the error message. */
function restoreAnySource(
  n: Libc,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
): string {
  const p = n.platform;
  encodeMreq(n, ifaceIdx, g, undefined);
  if (
    n.symbols.setsockopt_ptr(
      fd,
      p.IPPROTO_IPV6,
      p.IPV6_JOIN_GROUP,
      held.mreqPtr,
      20,
    )
  ) {
    return `; the socket's any-source membership, which Linux dropped, could not be restored (${
      errnoName(n.errno())
    })`;
  }
  setState(fd, ifaceIdx, g, ANY_SOURCE, lookup(fd, ifaceIdx, g));
  return "; the socket held an any-source membership made outside netjoin, " +
    "which Linux switched to INCLUDE{}: netjoin joined it again";
}

function where(fd: number, ifaceIdx: number): string {
  return `on interface ${ifaceIdx} (fd ${fd})`;
}

function kernelError(
  errno: number,
  verb: "join" | "leave",
  operation: string,
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  source?: Uint8Array,
  extra = "",
  sourcesHeld = 0,
): NetjoinError {
  const code = errnoName(errno);
  if (code === "EBADF" || code === "ENOTSOCK") forgetFd(fd);
  const group = formatIPv6(g);
  const src = source === undefined ? undefined : formatIPv6(source);
  const what = src === undefined
    ? `group ${group}`
    : `source ${src} of group ${group}`;
  return new NetjoinError(
    `Could not ${verb} ${what} ${
      where(fd, ifaceIdx)
    }: ${operation} failed with ${code}${extra}`,
    {
      code,
      errno,
      operation,
      fd,
      ifaceIdx,
      group,
      source: src,
      hint: kernelHint(operation, code, fd, ifaceIdx, sourcesHeld),
    },
  );
}

function modeRefusal(
  verb: "join" | "leave",
  code: "EADDRINUSE" | "EADDRNOTAVAIL",
  fd: number,
  ifaceIdx: number,
  g: Uint8Array,
  source: Uint8Array,
): NetjoinError {
  const group = formatIPv6(g);
  const src = formatIPv6(source);
  const trap = verb === "join"
    ? `Linux would silently turn it into INCLUDE{${src}} and drop every other source`
    : "Linux would report a failure yet switch it to INCLUDE{} and stop reception";
  return new NetjoinError(
    `Refused to ${verb} source ${src} of group ${group} ${
      where(fd, ifaceIdx)
    }: the socket is joined to the group from any source, and ${trap}`,
    {
      code,
      errno: errnoNumber(code),
      operation: verb === "join"
        ? "MCAST_JOIN_SOURCE_GROUP"
        : "MCAST_LEAVE_SOURCE_GROUP",
      fd,
      ifaceIdx,
      group,
      source: src,
      hint: verb === "join"
        ? "Leave the group first (leave without sources), then join its sources"
        : "Leave the whole group (leave without sources) instead",
      origin: "netjoin",
    },
  );
}
