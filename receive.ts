/**
 * Receiving datagrams on a socket fd without blocking the event loop, under
 * Deno and Bun: {@linkcode receive} resolves with the next datagram, and
 * {@linkcode datagrams} iterates over them. Both take an `AbortSignal`.
 *
 * While nothing is queued, one `poll(2)` waits for every fd being received
 * on, off the JS thread (Deno: a `nonblocking` FFI call on Deno's FFI thread
 * pool; Bun: a Worker blocked in `poll`), and wakes on data, on abort and on
 * {@linkcode closeSocket}. The datagram itself is read on the JS thread with
 * `recvfrom(..., MSG_DONTWAIT)`, so errno is read on the thread that made
 * the call. An idle receive costs no CPU; timers and other I/O keep running.
 *
 * A pending receive keeps the process alive (like a listening socket); once
 * none is pending, nothing netjoin started keeps it alive. Deno needs
 * `--allow-ffi`.
 *
 * @example Receive until aborted
 * ```ts ignore
 * import { datagrams, interfaceIndex, join, openSocket } from "@netjoin/netjoin";
 *
 * const fd = openSocket({ port: 5000 });
 * join(fd, interfaceIndex("eth0"), "ff3e::1234", ["2001:db8::1"]);
 * const signal = AbortSignal.timeout(10_000);
 * try {
 *   for await (const { payload, source, port } of datagrams(fd, { signal })) {
 *     console.log(`${payload.length} bytes from [${source}]:${port}`);
 *   }
 * } catch (error) {
 *   if (!signal.aborted) throw error;
 * }
 * ```
 *
 * @module
 */
import { formatIPv6 } from "./_address.ts";
import { checkFd, quote } from "./_args.ts";
import { errnoName, errnoNumber, kernelHint } from "./_errno.ts";
import {
  MSG_DONTWAIT,
  POLLHUP,
  POLLIN,
  POLLRDHUP,
  waitReadable,
} from "./_poller.ts";
import { NetjoinError } from "./errors.ts";
import { type Libc, libc } from "./ffi/mod.ts";

/** One datagram as {@linkcode receive} returns it. */
export interface Datagram {
  /** The payload: a copy, owned by the caller. */
  readonly payload: Uint8Array;
  /** The sender's address as canonical text, e.g. `"2001:db8::1"` (dotted
   * quad on an IPv4 socket; `""` when the kernel names no sender). */
  readonly source: string;
  /** The sender's UDP port. */
  readonly port: number;
  /** The sender's scope id (interface index) for a link-local source, else
   * 0. */
  readonly scopeId: number;
}

/** Options of {@linkcode receive} and {@linkcode datagrams}. */
export interface ReceiveOptions {
  /** Aborting it rejects the pending receive with `signal.reason` and stops
   * waiting at once. */
  signal?: AbortSignal;
}

/** `ESHUTDOWN` (node:os does not list it). */
const ESHUTDOWN: Readonly<Record<string, number>> = {
  linux: 108,
  darwin: 58,
  freebsd: 58,
};

/** Big enough for any UDP datagram without jumbograms. */
const MAX_DATAGRAM = 65535;

let scratch: Uint8Array | undefined;
const from = new Uint8Array(128);
const fromLen = new Uint8Array(4);
let errnoAgain = -1;
let errnoWouldBlock = -1;
let errnoIntr = -1;

function checkOptions(options: unknown): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${quote(options)}`);
  }
  const signal = (options as ReceiveOptions).signal;
  if (signal === undefined) return undefined;
  if (
    typeof signal !== "object" || signal === null ||
    typeof (signal as AbortSignal).aborted !== "boolean" ||
    typeof (signal as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(
      `signal must be an AbortSignal, got ${quote(signal)}`,
    );
  }
  return signal;
}

/**
 * One non-blocking `recvfrom`: the datagram, or undefined when none is
 * queued. Throws a {@linkcode NetjoinError} on any other failure.
 */
function tryReceive(n: Libc, fd: number): Datagram | undefined {
  const p = n.platform;
  const buf = scratch ??= new Uint8Array(MAX_DATAGRAM);
  const lenView = new DataView(fromLen.buffer);
  for (;;) {
    lenView.setUint32(0, from.length, true);
    const got = n.symbols.recvfrom(
      fd,
      buf,
      buf.length,
      MSG_DONTWAIT[p.os],
      from,
      fromLen,
    );
    if (got >= 0) {
      const named = lenView.getUint32(0, true) >= 8; // family and port
      return datagram(n, buf.slice(0, got), named);
    }
    const errno = n.errno(); // right after the call, on this thread
    if (errnoAgain < 0) {
      errnoAgain = errnoNumber("EAGAIN");
      errnoWouldBlock = errnoNumber("EWOULDBLOCK");
      errnoIntr = errnoNumber("EINTR");
    }
    if (errno === errnoAgain || errno === errnoWouldBlock) return undefined;
    if (errno === errnoIntr) continue;
    const code = errnoName(errno);
    throw new NetjoinError(
      `Could not receive on fd ${fd}: recvfrom failed with ${code}`,
      {
        code,
        errno,
        operation: "recvfrom",
        fd,
        hint: kernelHint("recvfrom", code, fd, undefined),
      },
    );
  }
}

function datagram(n: Libc, payload: Uint8Array, named: boolean): Datagram {
  const p = n.platform;
  if (!named) return { payload, source: "", port: 0, scopeId: 0 };
  const family = p.sockaddrIn6HasLen ? from[1] : from[0] | from[1] << 8;
  const port = from[2] << 8 | from[3];
  if (family === p.AF_INET6) {
    const scopeId =
      (from[24] | from[25] << 8 | from[26] << 16 | from[27] << 24) >>> 0;
    return { payload, source: formatIPv6(from, 8), port, scopeId };
  }
  if (family === p.AF_INET) {
    return {
      payload,
      source: `${from[4]}.${from[5]}.${from[6]}.${from[7]}`,
      port,
      scopeId: 0,
    };
  }
  return { payload, source: "", port: 0, scopeId: 0 }; // another family
}

/**
 * Resolves with the next datagram queued on the socket `fd`: its payload,
 * the sender's address and port. The wait blocks neither the event loop nor
 * a core; the datagram is read with `recvfrom(MSG_DONTWAIT)`, so `fd` may be
 * a blocking socket. Several receives may wait on one fd: each datagram goes
 * to one of them.
 *
 * An aborted `signal` rejects with `signal.reason` (at once when already
 * aborted). {@linkcode closeSocket} on `fd` rejects a pending receive with a
 * {@linkcode NetjoinError} (`EBADF`); close the fd by other means only after
 * aborting its receives, since the kernel wakes no one on `close`. A pending
 * receive keeps the process alive. Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { receive } from "@netjoin/netjoin";
 *
 * const { payload, source, port } = await receive(fd, {
 *   signal: AbortSignal.timeout(5000),
 * });
 * console.log(new TextDecoder().decode(payload), `from [${source}]:${port}`);
 * ```
 *
 * @param fd A datagram socket, e.g. from {@linkcode openSocket}.
 * @param options An `AbortSignal` to stop waiting.
 * @returns The datagram.
 * @throws {TypeError | RangeError} A bad argument (as a rejection).
 * @throws {NetjoinError} The kernel refused `recvfrom` (e.g. `ENOTSOCK`),
 * the fd was closed while waiting (`EBADF`), or shut down for reading
 * (`ESHUTDOWN`).
 */
export async function receive(
  fd: number,
  options?: ReceiveOptions,
): Promise<Datagram> {
  checkFd(fd);
  const signal = checkOptions(options);
  return await receiveChecked(fd, signal);
}

async function receiveChecked(
  fd: number,
  signal: AbortSignal | undefined,
): Promise<Datagram> {
  signal?.throwIfAborted();
  const n = libc();
  for (;;) {
    const got = tryReceive(n, fd);
    if (got !== undefined) return got;
    const revents = await waitReadable(fd, signal);
    // Ready yet nothing to read is normal when several receives share the
    // fd; but after a hang-up or a bare error it would repeat forever.
    if (revents & (POLLHUP | POLLRDHUP[n.platform.os]) || !(revents & POLLIN)) {
      const got = tryReceive(n, fd);
      if (got !== undefined) return got;
      throw stuck(n, fd, revents);
    }
  }
}

function stuck(n: Libc, fd: number, revents: number): NetjoinError {
  const hangUp = (revents & (POLLHUP | POLLRDHUP[n.platform.os])) !== 0;
  const code = hangUp ? "ESHUTDOWN" : "EIO";
  return new NetjoinError(
    hangUp
      ? `Could not receive on fd ${fd}: it was shut down for reading`
      : `Could not receive on fd ${fd}: poll reports an error (revents ${revents}) that recvfrom does not return, such as a queued IPV6_RECVERR error`,
    {
      code,
      errno: hangUp ? ESHUTDOWN[n.platform.os] : errnoNumber(code),
      operation: "recvfrom",
      fd,
      origin: "netjoin",
    },
  );
}

/**
 * Iterates over the datagrams arriving on `fd`, each as
 * {@linkcode receive} returns it, until `signal` aborts: then the loop
 * throws `signal.reason`. Arguments are checked when it is called, before
 * the first datagram is awaited. Breaking out of the loop leaves nothing
 * waiting. Deno needs `--allow-ffi`.
 *
 * @example
 * ```ts ignore
 * import { datagrams } from "@netjoin/netjoin";
 *
 * const controller = new AbortController();
 * for await (const d of datagrams(fd, { signal: controller.signal })) {
 *   console.log(d.source, d.port, d.payload.length);
 *   if (d.payload.length === 0) break;
 * }
 * ```
 *
 * @param fd A datagram socket, e.g. from {@linkcode openSocket}.
 * @param options An `AbortSignal` that ends the iteration.
 * @returns An async iterator of datagrams.
 * @throws {TypeError | RangeError} A bad argument (synchronously).
 */
export function datagrams(
  fd: number,
  options?: ReceiveOptions,
): AsyncIterableIterator<Datagram> {
  checkFd(fd);
  const signal = checkOptions(options);
  return iterate(fd, signal);
}

async function* iterate(
  fd: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Datagram, void, undefined> {
  for (;;) yield await receiveChecked(fd, signal);
}
