/**
 * Per-platform socket constants and struct layout facts for netjoin.
 *
 * Internal module: the FFI layer and the struct encoders in `_structs.ts` read
 * everything platform-specific from a {@linkcode Platform} record, so no other
 * file needs to know which operating system it runs on.
 *
 * Values come from the public headers listed in the project's platform
 * reference (Linux uapi `in6.h`/`in.h` and glibc, xnu `bsd/netinet/in.h` and
 * `bsd/netinet6/in6.h`, FreeBSD `sys/netinet/in.h` and `sys/netinet6/in6.h`).
 * Linux x86_64 values are also cross-checked against gcc and the system
 * headers by `tests/structs_test.ts`; Darwin and FreeBSD values are checked
 * only against the reference table (they could not be run here).
 *
 * Supported hosts are 64-bit little-endian: Linux on x64, arm64, riscv64,
 * ppc64 (little-endian only) and loong64; macOS and FreeBSD on x64 and arm64.
 * Windows, 32-bit architectures, big-endian hosts and Linux architectures with
 * their own socket constants (alpha, hppa, mips, sparc) are refused by
 * {@linkcode detectPlatform} with an error instead of being encoded wrongly.
 *
 * @module
 */

import {
  arch as hostArch,
  endianness as hostEndianness,
  platform as hostPlatform,
} from "node:os";

/** Operating systems netjoin can encode structs and constants for. */
export type OS = "linux" | "darwin" | "freebsd";

/** Everything the FFI layer and the encoders need for one platform. */
export interface Platform {
  /** Operating system these values belong to. */
  readonly os: OS;
  /**
   * Shared library exporting `setsockopt`, the errno accessor and
   * `if_nametoindex`: "libc.so.6" (Linux glibc), "libSystem.B.dylib"
   * (macOS), "libc.so.7" (FreeBSD).
   */
  readonly library: string;
  /**
   * Names to try, in order, when {@linkcode Platform.library} cannot be
   * opened (for example musl-based Linux such as Alpine, where there is no
   * "libc.so.6"). A name for another architecture simply fails to open.
   */
  readonly libraryFallbacks: readonly string[];
  /** Function returning a pointer to the calling thread's errno. */
  readonly errnoSymbol: "__errno_location" | "__error";
  /** Address family of IPv4 sockets. */
  readonly AF_INET: number;
  /** Address family of IPv6 sockets; also the `sin6_family` value. */
  readonly AF_INET6: number;
  /** Datagram socket type. */
  readonly SOCK_DGRAM: number;
  /** Option level for IPv6 options (and MCAST_* on IPv6 sockets). */
  readonly IPPROTO_IPV6: number;
  /** UDP protocol number. */
  readonly IPPROTO_UDP: number;
  /** Option level for socket-level options. */
  readonly SOL_SOCKET: number;
  /** Socket option allowing local address reuse. */
  readonly SO_REUSEADDR: number;
  /** Socket option allowing several sockets to bind the same port. */
  readonly SO_REUSEPORT: number;
  /** IPv6 option restricting a socket to IPv6 only. */
  readonly IPV6_V6ONLY: number;
  /** Any-source join taking an `ipv6_mreq` (a.k.a. IPV6_ADD_MEMBERSHIP). */
  readonly IPV6_JOIN_GROUP: number;
  /** Any-source leave taking an `ipv6_mreq` (a.k.a. IPV6_DROP_MEMBERSHIP). */
  readonly IPV6_LEAVE_GROUP: number;
  /** Outgoing multicast interface (u32 interface index). */
  readonly IPV6_MULTICAST_IF: number;
  /** Hop limit of outgoing multicast (int). */
  readonly IPV6_MULTICAST_HOPS: number;
  /** Loopback of outgoing multicast to local listeners (u32/int 0 or 1). */
  readonly IPV6_MULTICAST_LOOP: number;
  /**
   * Linux only (29, kernel >= 4.20): with the default 1, a socket bound to a
   * port receives every group joined by any socket on the host. `undefined`
   * where the option does not exist.
   */
  readonly IPV6_MULTICAST_ALL: number | undefined;
  /** Protocol-independent any-source join taking a `group_req`. */
  readonly MCAST_JOIN_GROUP: number;
  /** Protocol-independent any-source leave taking a `group_req`. */
  readonly MCAST_LEAVE_GROUP: number;
  /** Source-specific join taking a `group_source_req`. */
  readonly MCAST_JOIN_SOURCE_GROUP: number;
  /** Source-specific leave taking a `group_source_req`. */
  readonly MCAST_LEAVE_SOURCE_GROUP: number;
  /** Block one source of an any-source membership (`group_source_req`). */
  readonly MCAST_BLOCK_SOURCE: number;
  /** Unblock a blocked source (`group_source_req`). */
  readonly MCAST_UNBLOCK_SOURCE: number;
  /**
   * `true` on the BSDs: `sockaddr_in6` starts with a `sin6_len` byte (28)
   * followed by a one-byte family; on Linux the family is a host-order u16.
   */
  readonly sockaddrIn6HasLen: boolean;
  /** `sizeof(struct group_req)`: 136, or 132 on Darwin (`#pragma pack(4)`). */
  readonly groupReqSize: number;
  /** `offsetof(struct group_req, gr_group)`: 8, or 4 on Darwin. */
  readonly grGroupOffset: number;
  /** `sizeof(struct group_source_req)`: 264, or 260 on Darwin. */
  readonly groupSourceReqSize: number;
  /** `offsetof(struct group_source_req, gsr_group)`: 8, or 4 on Darwin. */
  readonly gsrGroupOffset: number;
  /** `offsetof(struct group_source_req, gsr_source)`: 136, or 132 on Darwin. */
  readonly gsrSourceOffset: number;
  /**
   * `true` on the BSDs, which refuse interface index 0 for MCAST_* options
   * (EADDRNOTAVAIL); Linux picks an interface by route instead.
   */
  readonly mcastRefusesIfindexZero: boolean;
}

/** Socket constants shared by Darwin and FreeBSD (both from 4.4BSD/KAME). */
const BSD_COMMON = {
  AF_INET: 2,
  SOCK_DGRAM: 2,
  IPPROTO_IPV6: 41,
  IPPROTO_UDP: 17,
  SOL_SOCKET: 0xffff,
  SO_REUSEADDR: 0x4,
  SO_REUSEPORT: 0x200,
  IPV6_V6ONLY: 27,
  IPV6_JOIN_GROUP: 12,
  IPV6_LEAVE_GROUP: 13,
  IPV6_MULTICAST_IF: 9,
  IPV6_MULTICAST_HOPS: 10,
  IPV6_MULTICAST_LOOP: 11,
  IPV6_MULTICAST_ALL: undefined,
  MCAST_JOIN_GROUP: 80,
  MCAST_LEAVE_GROUP: 81,
  MCAST_JOIN_SOURCE_GROUP: 82,
  MCAST_LEAVE_SOURCE_GROUP: 83,
  MCAST_BLOCK_SOURCE: 84,
  MCAST_UNBLOCK_SOURCE: 85,
  sockaddrIn6HasLen: true,
  errnoSymbol: "__error",
  mcastRefusesIfindexZero: true,
} as const;

/** Linux (generic asm values: x86_64, aarch64, riscv64, ppc64le, loongarch64), glibc. */
const LINUX: Platform = Object.freeze({
  os: "linux",
  library: "libc.so.6",
  libraryFallbacks: Object.freeze([
    "libc.musl-x86_64.so.1",
    "libc.musl-aarch64.so.1",
    "libc.musl-riscv64.so.1",
    "libc.musl-ppc64le.so.1",
    "libc.musl-loongarch64.so.1",
    "libc.so",
  ]),
  errnoSymbol: "__errno_location",
  AF_INET: 2,
  AF_INET6: 10,
  SOCK_DGRAM: 2,
  IPPROTO_IPV6: 41,
  IPPROTO_UDP: 17,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_REUSEPORT: 15,
  IPV6_V6ONLY: 26,
  IPV6_JOIN_GROUP: 20,
  IPV6_LEAVE_GROUP: 21,
  IPV6_MULTICAST_IF: 17,
  IPV6_MULTICAST_HOPS: 18,
  IPV6_MULTICAST_LOOP: 19,
  IPV6_MULTICAST_ALL: 29,
  MCAST_JOIN_GROUP: 42,
  MCAST_LEAVE_GROUP: 45,
  MCAST_JOIN_SOURCE_GROUP: 46,
  MCAST_LEAVE_SOURCE_GROUP: 47,
  MCAST_BLOCK_SOURCE: 43,
  MCAST_UNBLOCK_SOURCE: 44,
  sockaddrIn6HasLen: false,
  groupReqSize: 136,
  grGroupOffset: 8,
  groupSourceReqSize: 264,
  gsrGroupOffset: 8,
  gsrSourceOffset: 136,
  mcastRefusesIfindexZero: false,
});

/** macOS (xnu): `group_req`/`group_source_req` are declared under `#pragma pack(4)`. */
const DARWIN: Platform = Object.freeze({
  ...BSD_COMMON,
  os: "darwin",
  library: "libSystem.B.dylib",
  libraryFallbacks: Object.freeze(["/usr/lib/libSystem.B.dylib"]),
  AF_INET6: 30,
  groupReqSize: 132,
  grGroupOffset: 4,
  groupSourceReqSize: 260,
  gsrGroupOffset: 4,
  gsrSourceOffset: 132,
});

/** FreeBSD: natural alignment, so the same offsets as Linux. */
const FREEBSD: Platform = Object.freeze({
  ...BSD_COMMON,
  os: "freebsd",
  library: "libc.so.7",
  libraryFallbacks: Object.freeze(["/lib/libc.so.7"]),
  AF_INET6: 28,
  groupReqSize: 136,
  grGroupOffset: 8,
  groupSourceReqSize: 264,
  gsrGroupOffset: 8,
  gsrSourceOffset: 136,
});

/** The platform records, frozen; {@linkcode detectPlatform} returns one of these objects. */
export const PLATFORMS: {
  readonly linux: Platform;
  readonly darwin: Platform;
  readonly freebsd: Platform;
} = Object.freeze({ linux: LINUX, darwin: DARWIN, freebsd: FREEBSD });

/**
 * `node:os` `arch()` names accepted per OS. Linux accepts only architectures
 * using the generic asm-generic socket constants and the 64-bit struct
 * layouts; `ppc64` is accepted only when the host is little-endian (ppc64le),
 * which the endianness check enforces.
 */
const ACCEPTED_ARCHES: { readonly [K in OS]: readonly string[] } = {
  linux: ["x64", "arm64", "riscv64", "ppc64", "loong64"],
  darwin: ["x64", "arm64"],
  freebsd: ["x64", "arm64"],
};

/**
 * Picks the platform record for a host.
 *
 * Each omitted argument is read from `node:os` (`platform()`, `arch()`,
 * `endianness()`), so `detectPlatform()` describes the running process, and
 * tests can pass any combination.
 *
 * @param os `node:os` `platform()` value, e.g. "linux", "darwin", "win32".
 * @param arch `node:os` `arch()` value, e.g. "x64", "arm64", "ia32".
 * @param endianness `node:os` `endianness()` value: "LE" or "BE".
 * @returns The frozen record from {@linkcode PLATFORMS}.
 * @throws {Error} with a message starting "Unsupported platform:" and naming
 *   the os/arch/endianness found, for Windows, any other OS, big-endian
 *   hosts, and architectures other than those listed in the module doc.
 */
export function detectPlatform(
  os?: string,
  arch?: string,
  endianness?: string,
): Platform {
  const o = os ?? hostPlatform();
  const a = arch ?? hostArch();
  const e = endianness ?? hostEndianness();
  const found = `${o}/${a} ${e}`;
  if (o === "win32") {
    throw new Error(
      `Unsupported platform: ${found} (Windows: Winsock takes SOCKET handles, not fds, and its constants differ)`,
    );
  }
  if (o !== "linux" && o !== "darwin" && o !== "freebsd") {
    throw new Error(
      `Unsupported platform: ${found} (supported: linux, darwin, freebsd)`,
    );
  }
  if (e !== "LE") {
    throw new Error(
      `Unsupported platform: ${found} (only little-endian hosts are supported)`,
    );
  }
  const accepted = ACCEPTED_ARCHES[o];
  if (!accepted.includes(a)) {
    throw new Error(
      `Unsupported platform: ${found} (supported on ${o}: ${
        accepted.join(", ")
      }; 64-bit little-endian only)`,
    );
  }
  return PLATFORMS[o];
}
