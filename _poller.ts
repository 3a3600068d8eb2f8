/**
 * Waiting for sockets to become readable without blocking the event loop and
 * without busy-waiting, under Deno and under Bun.
 *
 * One `poll(2)` call at a time covers every fd someone waits on, plus the
 * read end of a private AF_UNIX socket pair (the "wake" socket). Adding a new
 * fd, aborting the last wait on an fd, or closing an fd with `closeSocket`
 * writes one byte to the wake socket, so the pending `poll` returns at once
 * and is re-armed with the new set (or not at all when nobody waits).
 *
 * Where the blocking `poll` runs:
 * - Deno: a `nonblocking` FFI symbol, on Deno's FFI thread pool. The pending
 *   call keeps the process alive, like a listening socket does in Node.
 * - Bun (no nonblocking FFI): a Worker (inline source) with its own
 *   `bun:ffi` binding of `poll`. It is `ref`'d only while a `poll` is in
 *   flight, so an idle process exits.
 *
 * In both, errno is never read from the other thread: the caller retries its
 * `recvfrom(..., MSG_DONTWAIT)` on the JS thread and reads errno there.
 *
 * Nothing here opens a library or starts a thread before the first wait.
 *
 * @module
 */
import { errnoName, errnoNumber } from "./_errno.ts";
import { NetjoinError } from "./errors.ts";
import { bunSignature } from "./ffi/bun.ts";
import { LIBC_SYMBOLS } from "./ffi/_symbols.ts";
import { type Libc, libc } from "./ffi/mod.ts";

/** `POLLIN`: the same on Linux, Darwin and FreeBSD. */
export const POLLIN = 0x1;
/** `POLLERR`: the same everywhere; reported without being asked for. */
export const POLLERR = 0x8;
/** `POLLHUP`: the same everywhere; reported without being asked for. */
export const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const POLLFD_SIZE = 8; // struct pollfd { int fd; short events; short revents; }

/** `MSG_DONTWAIT` of each supported OS. */
export const MSG_DONTWAIT: Readonly<Record<string, number>> = {
  linux: 0x40,
  darwin: 0x80,
  freebsd: 0x80,
};
/** `POLLRDHUP` where it exists (Linux): the socket was shut down for
 * reading, which also reports POLLIN while recvfrom says EAGAIN. */
export const POLLRDHUP: Readonly<Record<string, number>> = { linux: 0x2000 };
/** `SOCK_CLOEXEC` for `socketpair`'s type, where the OS has it. */
const SOCK_CLOEXEC: Readonly<Record<string, number>> = {
  linux: 0x80000,
  freebsd: 0x10000000,
};

/** Runs one blocking `poll` off the JS thread. */
interface Backend {
  /** Polls `buf` (`count` pollfds) with no timeout; resolves with the
   * result, revents written into `buf`. */
  poll(buf: Uint8Array, count: number): Promise<number>;
}

interface Waiter {
  readonly fd: number;
  readonly resolve: (revents: number) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const waiting = new Map<number, Set<Waiter>>();
let backend: Backend | undefined;
let native: Libc | undefined;
let wakeRead = -1;
let wakeWrite = -1;
let inFlight = false;
let wakeSent = false;
let failures = 0;
const one = new Uint8Array(1);
let drainBuf = new Uint8Array(0);
let drainLen = new Uint8Array(0);

/**
 * Resolves with poll's `revents` when `fd` may be readable (or has an error
 * pending, or was shut down), so the caller retries its non-blocking read.
 * Rejects with `signal.reason` when `signal` aborts, and with a
 * {@linkcode NetjoinError} (`EBADF`) when the fd is closed or not open.
 */
export function waitReadable(
  fd: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  start();
  return new Promise<number>((resolve, reject) => {
    const w: Waiter = { fd, resolve, reject, signal, onAbort: undefined };
    if (signal !== undefined) {
      w.onAbort = () => {
        remove(w);
        reject(signal.reason);
      };
      signal.addEventListener("abort", w.onAbort, { once: true });
    }
    let set = waiting.get(fd);
    if (set === undefined) {
      set = new Set();
      waiting.set(fd, set);
      if (inFlight) wake(); // the running poll does not cover this fd
    }
    set.add(w);
    arm();
  });
}

/**
 * Rejects every pending wait on `fd` (called by `closeSocket` before it
 * closes the fd) and wakes the poll, so no thread stays blocked on a socket
 * that is going away. Opens nothing when nobody waits.
 */
export function cancelWaits(fd: number): void {
  const set = waiting.get(fd);
  if (set === undefined) return;
  const error = closedError(fd, "the socket was closed by closeSocket");
  for (const w of [...set]) {
    remove(w);
    w.reject(error);
  }
}

/** How many fds are being waited on (for tests). */
export function waitingFds(): number {
  return waiting.size;
}

function closedError(fd: number, why: string): NetjoinError {
  return new NetjoinError(
    `Receive on fd ${fd} ended: ${why}`,
    {
      code: "EBADF",
      errno: errnoNumber("EBADF"),
      operation: "poll",
      fd,
      origin: "netjoin",
    },
  );
}

function remove(w: Waiter): void {
  if (w.onAbort !== undefined) {
    w.signal?.removeEventListener("abort", w.onAbort);
    w.onAbort = undefined;
  }
  const set = waiting.get(w.fd);
  if (set === undefined || !set.delete(w)) return;
  if (set.size === 0) {
    waiting.delete(w.fd);
    // Let the running poll return: it must not keep waiting (and keep a
    // thread, and the process) for an fd nobody waits on any more.
    if (inFlight) wake();
  }
}

function start(): void {
  if (backend !== undefined) return;
  if (native === undefined) {
    const n = libc();
    const p = n.platform;
    const sv = new Uint8Array(8);
    const type = SOCK_DGRAM | (SOCK_CLOEXEC[p.os] ?? 0);
    if (n.symbols.socketpair(AF_UNIX, type, 0, sv) !== 0) {
      const errno = n.errno();
      const code = errnoName(errno);
      throw new NetjoinError(
        `Could not make the wake-up socket pair: socketpair failed with ${code}`,
        { code, errno, operation: "socketpair" },
      );
    }
    const view = new DataView(sv.buffer);
    wakeRead = view.getInt32(0, true);
    wakeWrite = view.getInt32(4, true);
    drainBuf = new Uint8Array(16);
    drainLen = new Uint8Array(4);
    native = n;
  }
  backend = "Bun" in globalThis ? workerBackend(native) : denoBackend(native);
}

/** Makes the running poll return; at most one wake byte is ever queued. */
function wake(): void {
  if (wakeSent || native === undefined) return;
  const sent = native.symbols.send(
    wakeWrite,
    one,
    1,
    MSG_DONTWAIT[native.platform.os],
  );
  // A failed send leaves the flag clear, so the next change retries.
  if (sent === 1) wakeSent = true;
}

function drainWake(n: Libc): void {
  const flags = MSG_DONTWAIT[n.platform.os];
  for (;;) {
    new DataView(drainLen.buffer).setUint32(0, 0, true);
    const got = n.symbols.recvfrom(
      wakeRead,
      drainBuf,
      drainBuf.length,
      flags,
      drainBuf,
      drainLen,
    );
    if (got < 0) break;
  }
  wakeSent = false;
}

/** Starts a poll over every waited-on fd, unless one runs or none waits. */
function arm(): void {
  if (inFlight || waiting.size === 0 || backend === undefined) return;
  const count = waiting.size + 1;
  const buf = new Uint8Array(count * POLLFD_SIZE);
  const view = new DataView(buf.buffer);
  const events = POLLIN | (POLLRDHUP[native!.platform.os] ?? 0);
  // The waits each pollfd stands for. A result is delivered only to the
  // same set: an fd closed and reused meanwhile (its set ended, a new one
  // began) must not get the old file's revents, e.g. POLLNVAL.
  const armed: (Set<Waiter> | undefined)[] = [undefined];
  view.setInt32(0, wakeRead, true);
  view.setInt16(4, POLLIN, true);
  let i = 1;
  for (const [fd, set] of waiting) {
    view.setInt32(i * POLLFD_SIZE, fd, true);
    view.setInt16(i * POLLFD_SIZE + 4, events, true);
    armed.push(set);
    i++;
  }
  inFlight = true;
  backend.poll(buf, count).then(
    (result) => polled(buf, armed, result),
    (error) => failAll(error),
  );
}

function polled(
  buf: Uint8Array,
  armed: (Set<Waiter> | undefined)[],
  result: number,
): void {
  inFlight = false;
  const n = native!;
  const view = new DataView(buf.buffer);
  if (result < 0) {
    // EINTR (a signal landed on the polling thread) is the usual cause and
    // may repeat; errno is the other thread's and unknown. Only a failure
    // that persists (EINVAL, ENOMEM) ends the waits instead of spinning.
    if (++failures >= 100) {
      failAll(
        new NetjoinError("Waiting for a datagram failed: poll returned -1", {
          code: "EUNKNOWN",
          errno: 0,
          operation: "poll",
        }),
      );
      return;
    }
    arm();
    return;
  }
  failures = 0;
  const wakeRevents = view.getInt16(6, true);
  if (wakeRevents & POLLNVAL) {
    // Other code closed netjoin's wake-up socket: polling it again would
    // spin. End the waits; the next one makes a new pair.
    native = undefined;
    backend = undefined;
    failAll(closedError(wakeRead, "netjoin's wake-up socket was closed"));
    return;
  }
  if (wakeRevents !== 0) drainWake(n);
  for (let i = 1; i < armed.length; i++) {
    const revents = view.getInt16(i * POLLFD_SIZE + 6, true);
    if (revents === 0) continue;
    const fd = view.getInt32(i * POLLFD_SIZE, true);
    const set = waiting.get(fd);
    // its waits ended meanwhile, or new ones began after the poll started
    if (set === undefined || set !== armed[i]) continue;
    waiting.delete(fd);
    const error = revents & POLLNVAL
      ? closedError(fd, "the fd is not open")
      : undefined;
    for (const w of set) {
      if (w.onAbort !== undefined) {
        w.signal?.removeEventListener("abort", w.onAbort);
        w.onAbort = undefined;
      }
      if (error === undefined) w.resolve(revents);
      else w.reject(error);
    }
  }
  arm();
}

function failAll(error: unknown): void {
  inFlight = false;
  for (const set of waiting.values()) {
    for (const w of [...set]) {
      remove(w);
      w.reject(error);
    }
  }
  waiting.clear();
}

function denoBackend(n: Libc): Backend {
  const poll = n.symbols.poll_nonblocking;
  return {
    poll: (buf, count) => Promise.resolve(poll(buf, count, -1)),
  };
}

/** The parts of a Bun Worker used here. */
interface BunWorker {
  postMessage(message: unknown): void;
  ref(): void;
  unref(): void;
  onmessage: ((event: { data: PollReply }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
}

/** What the worker answers: poll's result and the pollfds with revents, or
 * why it could not poll. */
interface PollReply {
  readonly result: number;
  readonly buf: Uint8Array;
  readonly error?: string;
}

/**
 * The worker, inline so that it loads from wherever netjoin is installed
 * (a separate file would need a path that survives bundling and JSR's npm
 * transpilation). Its first message names the library paths and poll's
 * `bun:ffi` declaration; each later one is a pollfd array to poll with no
 * timeout. It never reads errno: the JS thread retries its non-blocking read
 * and reads errno there.
 */
const WORKER_SOURCE = `
import { dlopen } from "bun:ffi";
let poll, why = "poll was not bound";
self.onmessage = (event) => {
  const data = event.data;
  if (!(data instanceof Uint8Array)) {
    const errors = [];
    for (const path of data.paths) {
      try {
        poll = dlopen(path, { poll: data.poll }).symbols.poll;
        return;
      } catch (error) {
        errors.push(path + ": " + error.message);
      }
    }
    why = "Could not open libc (" + errors.join("; ") + ")";
    return;
  }
  if (poll === undefined) {
    self.postMessage({ result: -1, buf: data, error: why });
    return;
  }
  self.postMessage({ result: poll(data, data.length / 8, -1), buf: data });
};
`;

function workerBackend(n: Libc): Backend {
  const g = globalThis as unknown as {
    Worker: new (url: string) => BunWorker;
  };
  const url = URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const worker = new g.Worker(url);
  worker.unref();
  const p = n.platform;
  worker.postMessage({
    paths: [p.library, ...p.libraryFallbacks],
    poll: bunSignature(LIBC_SYMBOLS.poll),
  });
  let pending: ((reply: PollReply) => void) | undefined;
  const broken = (why: string) => {
    worker.unref();
    pending = undefined;
    backend = undefined; // the next wait starts a new worker
    failAll(new Error(`The poll worker failed: ${why}`));
  };
  worker.onmessage = (event) => {
    worker.unref();
    URL.revokeObjectURL(url); // loaded by now
    const reply = event.data;
    if (reply.error !== undefined) return broken(reply.error);
    const settle = pending;
    pending = undefined;
    settle?.(reply);
  };
  worker.onerror = (event) => broken(event.message ?? String(event));
  return {
    poll: (buf, count) =>
      new Promise<number>((resolve) => {
        pending = (reply) => {
          buf.set(reply.buf.subarray(0, count * POLLFD_SIZE));
          resolve(reply.result);
        };
        worker.ref(); // a pending receive keeps the process alive
        worker.postMessage(buf);
      }),
  };
}
