/**
 * Sockets to join on: open an IPv6 UDP socket bound to a port, find an
 * interface's index by name, and close the socket again.
 *
 * @example
 * ```ts ignore
 * import { closeSocket, interfaceIndex, openSocket } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000, reusePort: true });
 * const ifaceIdx = interfaceIndex("eth0");
 * // ... join, receive, leave ...
 * closeSocket(fd);
 * ```
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { formatIPv6, parseIPv6 } from "./_address.ts";
import { checkFd, quote } from "./_args.ts";
import { errnoName, kernelRefusal } from "./_errno.ts";
import { cancelWaits } from "./_poller.ts";
import { forgetFd } from "./_state.ts";
import { encodeSockaddrIn6 } from "./_structs.ts";
import { NetjoinError } from "./errors.ts";
import { type Libc, libc, setsockoptInt } from "./ffi/mod.ts";

/** Options of {@linkcode openSocket}. */
export interface OpenSocketOptions {
  /** The UDP port to bind; 0 lets the kernel pick one.
   * @default {0} */
  port?: number;
  /** The local address to bind, as text; `"::"` is every address.
   * Bind a receiving socket to `"::"` or to the group's address.
   * @default {"::"} */
  address?: string;
  /** The interface index a link-local `address` (fe80::/10) is bound on;
   * ignored by the kernel for other addresses.
   * @default {0} */
  scopeId?: number;
  /** Set `SO_REUSEADDR`, so several sockets can bind the same port.
   * @default {true} */
  reuseAddress?: boolean;
  /** Set `SO_REUSEPORT` (Linux: spreads datagrams over the sockets of
   * one user; the BSDs: every socket gets every multicast datagram).
   * @default {false} */
  reusePort?: boolean;
  /** Linux only: keep `IPV6_MULTICAST_ALL` on, so the socket also receives
   * groups that other sockets of the host joined on its port. Off by
   * default: a socket receives only the groups it joined.
   * @default {false} */
  multicastAll?: boolean;
}

const IFNAMSIZ = 16;

function fail(n: Libc, operation: string, fd: number, detail: string): never {
  throw kernelRefusal(n, operation, fd, detail);
}

/**
 * Opens an IPv6 UDP socket (`IPV6_V6ONLY` on) bound to `options.port` and
 * returns its file descriptor, for {@linkcode join}. On Linux it turns
 * `IPV6_MULTICAST_ALL` off unless asked not to. Nothing is left open when it
 * fails. Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { openSocket } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000 });
 * ```
 *
 * @param options What to bind and which options to set.
 * @returns The socket's file descriptor.
 * @throws {TypeError | RangeError} A bad option.
 * @throws {NetjoinError} The kernel refused (e.g. `EADDRINUSE` on bind).
 */
export function openSocket(options: OpenSocketOptions = {}): number {
  const port = options.port ?? 0;
  if (typeof port !== "number") {
    throw new TypeError(`port must be a number, got ${quote(port)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer 0 to 65535, got ${port}`);
  }
  const text = options.address ?? "::";
  if (typeof text !== "string") {
    throw new TypeError(`address must be text, got ${quote(text)}`);
  }
  const address = parseIPv6(text);
  if (address === undefined) {
    throw new TypeError(`address ${quote(text)} is not an IPv6 address`);
  }
  const scopeId = options.scopeId ?? 0;
  if (typeof scopeId !== "number") {
    throw new TypeError(`scopeId must be a number, got ${quote(scopeId)}`);
  }
  if (!Number.isInteger(scopeId) || scopeId < 0 || scopeId > 0xffffffff) {
    throw new RangeError(
      `scopeId must be a non-negative 32-bit integer, got ${scopeId}`,
    );
  }
  const n = libc();
  const p = n.platform;
  const fd = n.symbols.socket(p.AF_INET6, p.SOCK_DGRAM, p.IPPROTO_UDP);
  if (fd < 0) fail(n, "socket", -1, "Could not open an IPv6 UDP socket");
  try {
    const set = (level: number, name: number, v: number, what: string) => {
      if (setsockoptInt(n, fd, level, name, v)) {
        fail(n, "setsockopt", fd, `Could not set ${what} on fd ${fd}`);
      }
    };
    set(p.IPPROTO_IPV6, p.IPV6_V6ONLY, 1, "IPV6_V6ONLY");
    if (options.reuseAddress ?? true) {
      set(p.SOL_SOCKET, p.SO_REUSEADDR, 1, "SO_REUSEADDR");
    }
    if (options.reusePort) set(p.SOL_SOCKET, p.SO_REUSEPORT, 1, "SO_REUSEPORT");
    if (p.IPV6_MULTICAST_ALL !== undefined && !options.multicastAll) {
      set(p.IPPROTO_IPV6, p.IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL");
    }
    const sa = encodeSockaddrIn6(p, address, port, scopeId);
    if (n.symbols.bind(fd, sa, sa.length)) {
      fail(
        n,
        "bind",
        fd,
        `Could not bind fd ${fd} to [${formatIPv6(address)}]:${port}`,
      );
    }
  } catch (error) {
    n.symbols.close(fd);
    throw error;
  }
  forgetFd(fd);
  return fd;
}

/**
 * Returns the local UDP port `fd` is bound to (useful after binding port 0).
 *
 * @example
 * ```ts ignore
 * import { localPort, openSocket } from "@netjoin/netjoin";
 *
 * const port = localPort(openSocket());
 * ```
 *
 * @param fd An IPv6 socket.
 * @returns The port, 0 when not bound.
 * @throws {NetjoinError} The kernel refused (`EBADF`, `ENOTSOCK`).
 */
export function localPort(fd: number): number {
  checkFd(fd);
  const n = libc();
  const sa = new Uint8Array(128);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, sa.length, true);
  if (n.symbols.getsockname(fd, sa, len)) {
    fail(n, "getsockname", fd, `Could not read the address of fd ${fd}`);
  }
  return sa[2] << 8 | sa[3];
}

/**
 * Closes a socket opened with {@linkcode openSocket} (or any fd) and forgets
 * the memberships netjoin recorded for it; the kernel drops them with the
 * socket. Receives pending on `fd` reject with a {@linkcode NetjoinError}
 * (`EBADF`). Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { closeSocket, openSocket } from "@netjoin/netjoin";
 *
 * closeSocket(openSocket());
 * ```
 *
 * @param fd The file descriptor to close.
 * @throws {NetjoinError} The kernel refused (`EBADF`).
 */
export function closeSocket(fd: number): void {
  checkFd(fd);
  const n = libc();
  forgetFd(fd);
  cancelWaits(fd); // wakes and rejects receives pending on fd
  if (n.symbols.close(fd)) fail(n, "close", fd, `Could not close fd ${fd}`);
}

/**
 * Returns the index of the network interface named `name`
 * (`if_nametoindex`). Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { interfaceIndex } from "@netjoin/netjoin";
 *
 * console.log(interfaceIndex("lo")); // 1 on Linux
 * ```
 *
 * @param name The interface name, e.g. `"eth0"`.
 * @returns Its index, a positive integer.
 * @throws {TypeError | RangeError} A name that cannot be an interface name.
 * @throws {NetjoinError} No such interface (`ENODEV`), with the names there are.
 */
export function interfaceIndex(name: string): number {
  if (typeof name !== "string") {
    throw new TypeError(`Interface name must be text, got ${quote(name)}`);
  }
  const bytes = new TextEncoder().encode(name + "\0");
  if (name.length === 0 || bytes.length > IFNAMSIZ || name.includes("\0")) {
    throw new RangeError(
      `Interface name ${quote(name)} is not a valid name (1 to ${
        IFNAMSIZ - 1
      } bytes, no NUL)`,
    );
  }
  const n = libc();
  const index = n.symbols.if_nametoindex(bytes);
  if (index === 0) {
    const errno = n.errno();
    const code = errnoName(errno);
    const known = interfaceNames();
    throw new NetjoinError(
      `No network interface is named ${
        quote(name)
      }: if_nametoindex failed with ${code}`,
      {
        code,
        errno,
        operation: "if_nametoindex",
        hint: known.length > 0
          ? `Interfaces here: ${known.join(", ")}`
          : undefined,
      },
    );
  }
  return index;
}

/**
 * The host's interface names, best effort: /sys/class/net on Linux, else
 * those with an address. Empty where Deno lacks `--allow-read`/`--allow-sys`.
 */
function interfaceNames(): string[] {
  try {
    return readdirSync("/sys/class/net").sort();
  } catch {
    // not Linux, or not allowed
  }
  try {
    return Object.keys(networkInterfaces()).sort();
  } catch {
    return [];
  }
}
