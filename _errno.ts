/**
 * errno names and numbers of the running platform, and the hints netjoin
 * adds for the kernel limits users hit.
 *
 * @module
 */
import { constants } from "node:os";
import { getSystemErrorName } from "node:util";
import { readFileSync } from "node:fs";
import { NetjoinError } from "./errors.ts";
import type { Libc } from "./ffi/mod.ts";

/** The errno name for `errno` on this platform, e.g. `"ENOBUFS"`. */
export function errnoName(errno: number): string {
  try {
    const name = getSystemErrorName(-errno);
    if (/^E[A-Z0-9]+$/.test(name)) return name;
  } catch {
    // fall through: an errno the runtime does not name
  }
  return `E${errno}`;
}

/** The errno number for `name` on this platform. */
export function errnoNumber(name: string): number {
  const value = (constants.errno as Record<string, number | undefined>)[name];
  if (value === undefined) throw new Error(`Unknown errno name ${name}`);
  return value;
}

/**
 * Reads a sysctl value from /proc/sys, or undefined where it is absent (a
 * namespace without it, another OS) or not readable (Deno without
 * `--allow-read`).
 */
export function readSysctl(name: string): number | undefined {
  try {
    const text = readFileSync(`/proc/sys/${name.replaceAll(".", "/")}`, "utf8");
    const value = Number(text.trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The hint for the socket's option memory, `net.core.optmem_max`. */
function optmemHint(): string {
  const max = readSysctl("net.core.optmem_max");
  return "Memberships are charged to the socket's option memory, " +
    `sysctl net.core.optmem_max (${
      max === undefined ? "unknown here" : `${max} bytes`
    }; about 56 bytes a group, 24 + 16 per source a source list): ` +
    "spread the memberships over more sockets, or raise the sysctl";
}

/**
 * The hint for a kernel refusal of `operation`, where its cause is known.
 * `sourcesHeld` is how many sources of the group the socket held (as far as
 * netjoin knows) when a source join failed.
 */
export function kernelHint(
  operation: string,
  code: string,
  fd: number,
  ifaceIdx: number | undefined,
  sourcesHeld = 0,
): string | undefined {
  switch (code) {
    case "ENOBUFS": {
      if (operation !== "MCAST_JOIN_SOURCE_GROUP") return undefined;
      const max = readSysctl("net.ipv6.mld_max_msf");
      // Linux answers ENOBUFS both for the source limit and for a source
      // list the option memory cannot hold.
      if (sourcesHeld < (max ?? 64)) return optmemHint();
      return `The kernel allows ${
        max ?? "64 (the default)"
      } sources per socket and group (sysctl net.ipv6.mld_max_msf): ` +
        "spread the sources over more sockets, or raise the sysctl " +
        "(it exists only in the initial network namespace)";
    }
    case "ENOMEM":
      return optmemHint();
    case "EADDRINUSE":
      return operation === "IPV6_JOIN_GROUP"
        ? "The socket is already joined to this group on this interface " +
          "(any-source or source-specific): leave it first"
        : undefined;
    case "EADDRNOTAVAIL":
      if (operation === "MCAST_JOIN_SOURCE_GROUP") {
        return "The socket is already joined to this source and group";
      }
      if (operation === "MCAST_LEAVE_SOURCE_GROUP") {
        return "The socket is not joined to this source of the group";
      }
      if (operation === "IPV6_LEAVE_GROUP") {
        return "The socket is not joined to this group on this interface";
      }
      return undefined;
    case "EINVAL":
      return operation === "MCAST_LEAVE_SOURCE_GROUP"
        ? "The socket is not joined to this group on this interface"
        : undefined;
    case "ENODEV":
      return ifaceIdx === 0
        ? "No interface carries a route for the group: pass an interface index"
        : `No interface has index ${ifaceIdx} (see \`ip link\`)`;
    case "ENOPROTOOPT":
      return `fd ${fd} is not an IPv6 socket (an AF_INET socket?)`;
    case "EPROTO":
      return `fd ${fd} is not a datagram socket (a TCP socket?)`;
    case "EBADF":
      return `fd ${fd} is not an open file descriptor`;
    case "ENOTSOCK":
      return `fd ${fd} is not a socket`;
    case "EPERM":
    case "EACCES":
      return "The operation needs a privilege this process lacks";
    default:
      return undefined;
  }
}

/**
 * The {@linkcode NetjoinError} for a failed system call: reads errno first
 * (call it right after the failing call), names it, and adds `hint(code)` or
 * else the known hint for `operation`.
 */
export function kernelRefusal(
  n: Libc,
  operation: string,
  fd: number,
  detail: string,
  hint?: (code: string) => string | undefined,
): NetjoinError {
  const errno = n.errno();
  const code = errnoName(errno);
  return new NetjoinError(`${detail}: ${operation} failed with ${code}`, {
    code,
    errno,
    operation,
    fd,
    hint: hint?.(code) ?? kernelHint(operation, code, fd, undefined),
  });
}
