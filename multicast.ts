/**
 * Sending IPv6 multicast and the socket options around it: the outgoing
 * interface, the hop limit, loopback to local listeners, and (Linux)
 * `IPV6_MULTICAST_ALL` for receivers. {@linkcode send} sends one datagram to
 * (group, port); the source address is the one the socket is bound to.
 *
 * @example Send from a chosen source address
 * ```ts ignore
 * import {
 *   closeSocket,
 *   interfaceIndex,
 *   openSocket,
 *   send,
 *   setMulticastHops,
 *   setMulticastInterface,
 * } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ address: "2001:db8::1" }); // the source
 * setMulticastInterface(fd, interfaceIndex("eth0"));
 * setMulticastHops(fd, 1);
 * send(fd, "ff3e::1234", 5000, "hello");
 * closeSocket(fd);
 * ```
 *
 * @module
 */
import { formatIPv6 } from "./_address.ts";
import { checkFd, checkIfaceIdx, quote, toGroup } from "./_args.ts";
import { kernelRefusal } from "./_errno.ts";
import { encodeSockaddrIn6, SOCKADDR_IN6_SIZE } from "./_structs.ts";
import type { Address } from "./join.ts";
import { NetjoinError } from "./errors.ts";
import { type Libc, libc, setsockoptInt } from "./ffi/mod.ts";

let dest = new Uint8Array(0);
const encoder = new TextEncoder();

function setIntOption(
  fd: number,
  name: (n: Libc) => number | undefined,
  option: string,
  value: number,
  what: string,
): void {
  const n = libc();
  const optname = name(n);
  if (optname === undefined) {
    throw new NetjoinError(
      `Could not set ${option} on fd ${fd}: ${n.platform.os} has no such option`,
      {
        code: "ENOPROTOOPT",
        errno: 0,
        operation: option,
        fd,
        origin: "netjoin",
      },
    );
  }
  if (setsockoptInt(n, fd, n.platform.IPPROTO_IPV6, optname, value)) {
    throw kernelRefusal(
      n,
      "setsockopt",
      fd,
      `Could not set ${option} to ${what} on fd ${fd}`,
    );
  }
}

function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`${what} must be true or false, got ${quote(value)}`);
  }
  return value;
}

/**
 * Sets the interface that multicast sent on `fd` leaves by
 * (`IPV6_MULTICAST_IF`). 0 lets the kernel pick by route again. Deno needs
 * `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { interfaceIndex, setMulticastInterface } from "@netjoin/netjoin";
 *
 * setMulticastInterface(fd, interfaceIndex("eth0"));
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param ifaceIdx The interface index, or 0.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused (e.g. `ENODEV`: no such
 * interface).
 */
export function setMulticastInterface(fd: number, ifaceIdx: number): void {
  checkFd(fd);
  checkIfaceIdx(ifaceIdx);
  // The option takes a u32; as an int the bits are the same.
  setIntOption(
    fd,
    (n) => n.platform.IPV6_MULTICAST_IF,
    "IPV6_MULTICAST_IF",
    ifaceIdx | 0,
    String(ifaceIdx),
  );
}

/**
 * Sets the hop limit of multicast sent on `fd` (`IPV6_MULTICAST_HOPS`):
 * 1 (the kernel's default) keeps it on the link, -1 restores the default.
 * Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { setMulticastHops } from "@netjoin/netjoin";
 *
 * setMulticastHops(fd, 16); // cross up to 15 routers
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param hops An integer from 0 to 255, or -1 for the default.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused.
 */
export function setMulticastHops(fd: number, hops: number): void {
  checkFd(fd);
  if (typeof hops !== "number") {
    throw new TypeError(`hops must be a number, got ${quote(hops)}`);
  }
  if (!Number.isInteger(hops) || hops < -1 || hops > 255) {
    throw new RangeError(
      `hops must be an integer from -1 to 255, got ${quote(hops)}`,
    );
  }
  setIntOption(
    fd,
    (n) => n.platform.IPV6_MULTICAST_HOPS,
    "IPV6_MULTICAST_HOPS",
    hops,
    String(hops),
  );
}

/**
 * Sets whether multicast sent on `fd` is also delivered to listeners on this
 * host (`IPV6_MULTICAST_LOOP`, on by default). Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { setMulticastLoop } from "@netjoin/netjoin";
 *
 * setMulticastLoop(fd, false); // do not hear our own datagrams
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param loop `true` to loop back, `false` not to.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused.
 */
export function setMulticastLoop(fd: number, loop: boolean): void {
  checkFd(fd);
  checkBoolean(loop, "loop");
  setIntOption(
    fd,
    (n) => n.platform.IPV6_MULTICAST_LOOP,
    "IPV6_MULTICAST_LOOP",
    loop ? 1 : 0,
    String(loop),
  );
}

/**
 * Linux only: sets `IPV6_MULTICAST_ALL` on a receiving socket. With `true`
 * (the kernel's default) a socket bound to a port also receives the groups
 * other sockets of the host joined on that port; with `false` only its own.
 * {@linkcode openSocket} already sets it to `false` unless asked not to.
 * Elsewhere a socket receives only its own groups: `false` does nothing,
 * `true` throws. Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { setMulticastAll } from "@netjoin/netjoin";
 *
 * setMulticastAll(fd, false); // a socket made by other code
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param all `true` to receive every group joined on the host, `false` for
 * only the socket's own.
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused, or `true` off Linux
 * (`ENOPROTOOPT`).
 */
export function setMulticastAll(fd: number, all: boolean): void {
  checkFd(fd);
  checkBoolean(all, "all");
  if (!all && libc().platform.IPV6_MULTICAST_ALL === undefined) return;
  setIntOption(
    fd,
    (n) => n.platform.IPV6_MULTICAST_ALL,
    "IPV6_MULTICAST_ALL",
    all ? 1 : 0,
    String(all),
  );
}

/**
 * Sends one datagram with `payload` to `[group]:port` on the IPv6 socket
 * `fd` (`sendto`) and returns the bytes sent. The source address is the one
 * `fd` is bound to: to send from a chosen source, open the socket with
 * `openSocket({ address: source })` (the address must be one of the host's).
 * The interface is the one set with {@linkcode setMulticastInterface}, else
 * the group's route; the hop limit is 1 unless set with
 * {@linkcode setMulticastHops}. Text payloads are sent as UTF-8. Deno needs
 * `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { openSocket, send, setMulticastInterface } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ address: "2001:db8::1" });
 * setMulticastInterface(fd, ifaceIdx);
 * send(fd, "ff3e::1234", 5000, new Uint8Array([1, 2, 3]));
 * ```
 *
 * @param fd An IPv6 datagram socket.
 * @param group An IPv6 multicast address (ff00::/8).
 * @param port The destination UDP port, 1 to 65535.
 * @param payload Bytes, or text sent as UTF-8.
 * @returns The number of bytes sent (the payload's length).
 * @throws {TypeError | RangeError} A bad argument.
 * @throws {NetjoinError} The kernel refused (e.g. `ENETUNREACH`: no
 * interface set and no route for the group; `EMSGSIZE`: payload too big).
 */
export function send(
  fd: number,
  group: Address,
  port: number,
  payload: Uint8Array | string,
): number {
  checkFd(fd);
  const g = toGroup(group);
  if (typeof port !== "number") {
    throw new TypeError(`port must be a number, got ${quote(port)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `port must be an integer from 1 to 65535, got ${quote(port)}`,
    );
  }
  let bytes: Uint8Array;
  if (typeof payload === "string") bytes = encoder.encode(payload);
  else if (payload instanceof Uint8Array) bytes = payload;
  else {
    throw new TypeError(
      `payload must be a Uint8Array or text, got ${quote(payload)}`,
    );
  }
  const n = libc();
  if (dest.length === 0) dest = new Uint8Array(SOCKADDR_IN6_SIZE);
  encodeSockaddrIn6(n.platform, g, port, 0, dest);
  const sent = n.symbols.sendto(
    fd,
    bytes,
    bytes.length,
    0,
    dest,
    SOCKADDR_IN6_SIZE,
  );
  if (sent < 0) {
    throw kernelRefusal(
      n,
      "sendto",
      fd,
      `Could not send ${bytes.length} bytes to [${
        formatIPv6(g)
      }]:${port} on fd ${fd}`,
      sendHint,
    );
  }
  return sent;
}

function sendHint(code: string): string | undefined {
  switch (code) {
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return "No route for the group: choose the interface with " +
        "setMulticastInterface";
    case "EMSGSIZE":
      return "The payload is larger than a UDP datagram can carry " +
        "(65527 bytes over IPv6)";
    case "EADDRNOTAVAIL":
      return "The source address the socket is bound to cannot send on " +
        "this interface";
    default:
      return undefined;
  }
}
