/**
 * The join+leave cases the join benches measure: netjoin's join/leave with
 * byte or text addresses, and a bare FFI setsockopt loop making the same two
 * calls with prebuilt structs (the baseline), through the same binding
 * netjoin uses (`setsockopt_ptr`: the struct passed by address). Everything runs on `lo`, so no
 * MLD report leaves the host.
 */
import { parseIPv6 } from "../_address.ts";
import { encodeGroupSourceReq, encodeIpv6Mreq } from "../_structs.ts";
import { libc } from "../ffi/mod.ts";
import { interfaceIndex, join, leave, openSocket } from "../mod.ts";

export const GROUP = "ff3e::b:1";
export const SOURCE = "2001:db8::b1";

/** A socket, the loopback index and prebuilt structs for the baseline.
 * After setup, the baseline calls libc's `setsockopt` as it was then. */
export function setup() {
  const { symbols, platform: p, pointerOf } = libc();
  const fd = openSocket();
  const ifaceIdx = interfaceIndex("lo");
  const g = parseIPv6(GROUP)!;
  const s = parseIPv6(SOURCE)!;
  // Prebuilt structs passed by address, as join and leave pass theirs: in
  // one ArrayBuffer off the JS heap, held by the object returned below for as
  // long as the addresses are used.
  const structs = new ArrayBuffer(288);
  const gsr = encodeGroupSourceReq(
    p,
    ifaceIdx,
    g,
    s,
    new Uint8Array(structs, 0, p.groupSourceReqSize),
  );
  const mreq = encodeIpv6Mreq(p, g, ifaceIdx, new Uint8Array(structs, 264, 20));
  const gsrPtr = pointerOf(gsr);
  const mreqPtr = pointerOf(mreq);
  const setsockopt = symbols.setsockopt_ptr;
  const level = p.IPPROTO_IPV6;
  const sources = [s];
  const textSources = [SOURCE];
  return {
    fd,
    /** The memory the bare calls' addresses point into. */
    structs,
    /** Bare FFI: MCAST_JOIN_SOURCE_GROUP then MCAST_LEAVE_SOURCE_GROUP. */
    bareSsm(): void {
      if (
        setsockopt(fd, level, p.MCAST_JOIN_SOURCE_GROUP, gsrPtr, gsr.length)
      ) {
        throw new Error("bare join failed");
      }
      if (
        setsockopt(fd, level, p.MCAST_LEAVE_SOURCE_GROUP, gsrPtr, gsr.length)
      ) {
        throw new Error("bare leave failed");
      }
    },
    /** netjoin (S,G) with 16-byte addresses. */
    bytesSsm(): void {
      join(fd, ifaceIdx, g, sources);
      leave(fd, ifaceIdx, g, sources);
    },
    /** netjoin (S,G) with text addresses. */
    textSsm(): void {
      join(fd, ifaceIdx, GROUP, textSources);
      leave(fd, ifaceIdx, GROUP, textSources);
    },
    /** Bare FFI: IPV6_JOIN_GROUP then IPV6_LEAVE_GROUP. */
    bareAsm(): void {
      if (setsockopt(fd, level, p.IPV6_JOIN_GROUP, mreqPtr, 20)) {
        throw new Error("bare join failed");
      }
      if (setsockopt(fd, level, p.IPV6_LEAVE_GROUP, mreqPtr, 20)) {
        throw new Error("bare leave failed");
      }
    },
    /** netjoin (*,G) with a 16-byte group. */
    bytesAsm(): void {
      join(fd, ifaceIdx, g);
      leave(fd, ifaceIdx, g);
    },
    /** netjoin (*,G) with a text group. */
    textAsm(): void {
      join(fd, ifaceIdx, GROUP);
      leave(fd, ifaceIdx, GROUP);
    },
  };
}
