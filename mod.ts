/**
 * netjoin joins IPv6 multicast groups on socket file descriptors from Deno
 * and Bun, through the runtimes' own FFI and libc's `setsockopt`: any-source
 * (*,G) joins, and source-specific (S,G) joins (RFC 3678), all or nothing,
 * with the kernel's refusals as {@linkcode NetjoinError}s. A token-bucket
 * {@linkcode Limiter} and {@linkcode jitter} pace joins so that a fleet's cold
 * start does not flood the upstream MLDv2 querier.
 *
 * Deno needs `--allow-ffi`.
 *
 * @example Join one source of a group, then leave
 * ```ts ignore
 * import {
 *   closeSocket,
 *   interfaceIndex,
 *   join,
 *   leave,
 *   openSocket,
 * } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000 });
 * const ifaceIdx = interfaceIndex("eth0");
 * join(fd, ifaceIdx, "ff3e::1234", ["2001:db8::1"]);
 * leave(fd, ifaceIdx, "ff3e::1234", ["2001:db8::1"]);
 * closeSocket(fd);
 * ```
 *
 * @module
 */
export { type Address, join, leave } from "./join.ts";
export {
  closeSocket,
  interfaceIndex,
  localPort,
  openSocket,
  type OpenSocketOptions,
} from "./socket.ts";
export {
  NetjoinError,
  type NetjoinErrorDetails,
  type NetjoinErrorOrigin,
} from "./errors.ts";
export { Limiter, type LimiterOptions, newLimiter } from "./limiter.ts";
export { jitter, type JitterOptions } from "./jitter.ts";
export {
  send,
  setMulticastAll,
  setMulticastHops,
  setMulticastInterface,
  setMulticastLoop,
} from "./multicast.ts";
export {
  type Datagram,
  datagrams,
  receive,
  type ReceiveOptions,
} from "./receive.ts";
