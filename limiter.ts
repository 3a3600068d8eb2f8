/**
 * {@linkcode newLimiter}: a token bucket that paces operations, such as the
 * `setsockopt` calls of many joins, to a steady rate with a bounded burst.
 *
 * Waiters are granted in strict call order. While nobody waits the limiter
 * holds no timer (refill is computed from `performance.now()`), so an idle
 * limiter never keeps the process alive; while somebody waits it holds
 * exactly one timer, whatever the queue length, and every wake-up grants all
 * the waiters the elapsed time covers, so pacing does not depend on the
 * runtime's timer floor (about 1 ms in Bun and Node, 2 ms in Deno).
 *
 * A rate of 0 or less gives `null` instead of a limiter, so `await
 * lim?.acquire()` paces when a rate is configured and costs nothing when it is
 * not, without a branch at every call site.
 *
 * @example Pacing joins at 1 000 per second
 * ```ts
 * import { newLimiter } from "@netjoin/netjoin/limiter";
 *
 * using lim = newLimiter(1000);
 * for (let i = 0; i < 3; i++) {
 *   await lim?.acquire(); // the first 1 000 pass at once, then 1 per ms
 *   // join(fd, ifaceIdx, group, sources);
 * }
 * ```
 *
 * @module
 */

import { type Clock, getClock, type TimerHandle } from "./_clock.ts";

/** Options for {@linkcode newLimiter} and the {@linkcode Limiter}
 * constructor. */
export interface LimiterOptions {
  /**
   * The most operations granted at once after the limiter has been idle:
   * the capacity of the bucket. At least 1; may be fractional (a burst of 2.5
   * grants 2 at once and carries the half token).
   *
   * @default {Math.max(1, perSecond)}
   */
  burst?: number;
  /**
   * Start with an empty bucket: the first operation waits `1 / perSecond`
   * seconds instead of the limiter granting a full burst at once.
   *
   * @default {false}
   */
  startEmpty?: boolean;
}

// Grants taken from the bucket without reading the clock before it is read
// again. `performance.now()` costs 100-250 ns in Deno, more than the whole
// uncontended acquire may; see Bucket#refill.
const UNCLOCKED_GRANTS = 32;
// Tolerance for float rounding in refill arithmetic, in tokens.
const EPSILON = 1e-9;
// A wake-up releases every token the elapsed time covers, unless that
// would put more than WINDOW_SHARE times the fair share into the last
// WINDOW_MS (counted in 1 ms slots, over SPAN_MS). Normal pacing, timer
// floor included, never meets the limit; after the event loop stalled (a
// long synchronous loop, a GC pause) the waiters it held up are released at
// about 1.3 times the rate (WINDOW_SHARE * WINDOW_MS / SPAN_MS) instead of
// at once, and no token is lost.
const WINDOW_MS = 10;
const WINDOW_SHARE = 1.45;
// The limit is kept over a slightly longer span than the window, so that
// the callbacks of one release, which run a little after it, cannot land in
// the same 10 ms as the next release.
const SPAN_MS = 11;
// What uncontended acquires return; awaiting it costs a bare `await`.
const GRANTED: Promise<void> = Promise.resolve();

type Resolve = (value: void | PromiseLike<void>) => void;

// A thenable that makes the promise it resolves reject with `reason`. Waiters
// keep only their resolve function (one closure less per queued waiter).
function rejecting(reason: unknown): PromiseLike<void> {
  return {
    then(_onFulfilled: unknown, onRejected?: (reason: unknown) => unknown) {
      onRejected?.(reason);
      return this;
    },
  } as PromiseLike<void>;
}

function stoppedError(): Error {
  return new Error("Cannot acquire from a stopped limiter");
}

// One queued acquire: a node of a doubly linked list, so an aborted waiter is
// unlinked in O(1).
class Waiter {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  constructor(
    readonly resolve: Resolve,
    readonly group: SignalGroup | undefined,
  ) {}
}

// The waiters of one limiter that share one signal, and their one abort
// listener (handleEvent, so no closure is allocated). Runtimes keep a
// signal's listeners in a list that removeEventListener scans, so one
// listener per waiter would make 100 000 waiters sharing a shutdown signal
// cost O(n^2) to grant or abort.
class SignalGroup implements EventListenerObject {
  readonly waiters: Set<Waiter> = new Set();
  constructor(readonly bucket: Bucket, readonly signal: AbortSignal) {}
  handleEvent(): void {
    this.bucket.abortGroup(this);
  }
}

// The state and algorithm behind a Limiter, kept apart from the public class
// so that Waiter can reach it.
class Bucket {
  readonly clock: Clock;
  readonly perMs: number; // tokens per millisecond
  readonly burst: number;
  tokens: number; // tokens in the bucket at time `last`, minus `debt`
  debt = 0; // grants since `last` taken without reading the clock
  // grants by the timer in each of the last SPAN_MS 1 ms slots
  readonly slots: Float64Array = new Float64Array(SPAN_MS);
  slotMs = 0; // the whole millisecond of the newest slot
  inWindow = 0; // the sum of `slots`
  readonly perWindow: number; // the most grants in WINDOW_MS
  yielded = true; // no refill from acquire() since the loop last yielded
  readonly endTurn: () => void;
  last: number;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  timer: TimerHandle | undefined = undefined;
  stopped = false;
  readonly groups: Map<AbortSignal, SignalGroup> = new Map();
  readonly wake: () => void;

  constructor(perSecond: number, burst: number, startEmpty: boolean) {
    this.clock = getClock();
    this.perMs = perSecond / 1000;
    this.burst = burst;
    this.tokens = startEmpty ? 0 : burst;
    // At least one grant more than the rate itself brings in SPAN_MS, or
    // the limiter could never catch up (at low rates 1.45x rounds down).
    this.perWindow = Math.max(
      Math.floor(WINDOW_SHARE * this.perMs * WINDOW_MS),
      Math.floor(this.perMs * SPAN_MS) + 1,
    );
    this.last = this.clock.now();
    this.wake = (): void => this.onTimer();
    this.endTurn = (): void => {
      this.yielded = true;
    };
  }

  // Brings the bucket to time `now`. Grants taken without the clock since
  // `last` (the fast path) are charged after the refill is capped, as if
  // they had all been taken at `now`: the bucket may then hold fewer tokens
  // than an exact one (at most UNCLOCKED_GRANTS - 1 fewer, and only if it
  // would have filled up in between), never more. The fast path never takes
  // the last token, so a burst used up and followed by idle time refills
  // exactly.
  refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      const full = this.tokens + this.debt + elapsed * this.perMs;
      this.tokens = (full < this.burst ? full : this.burst) - this.debt;
      this.last = now;
    }
    this.debt = 0;
  }

  acquire(signal: AbortSignal | undefined): Promise<void> {
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(signal.reason);
    }
    if (this.stopped) return Promise.reject(stoppedError());
    if (this.head === undefined) {
      // Fast path: a token in hand is granted without reading the clock,
      // which only adds tokens; the grant is charged at the next reading.
      if (this.tokens >= 2 && this.debt < UNCLOCKED_GRANTS) {
        this.tokens -= 1;
        this.debt += 1;
        return GRANTED;
      }
      // Tokens accrue into the bucket at most once per turn of the event
      // loop: a synchronous loop of acquires that outlasts the burst queues
      // behind it instead of taking, at once, what accrued while it ran
      // (its callbacks would all run together when it yields). The timer
      // then releases those waiters paced, catch-up included.
      if (this.yielded) {
        this.refill(this.clock.now());
        this.yielded = false;
        queueMicrotask(this.endTurn);
      } else {
        this.refill(this.last);
      }
      if (this.tokens >= 1 - EPSILON) {
        this.tokens -= 1;
        return GRANTED;
      }
    }
    let group: SignalGroup | undefined;
    if (signal !== undefined) {
      group = this.groups.get(signal);
      if (group === undefined) {
        group = new SignalGroup(this, signal);
        this.groups.set(signal, group);
        signal.addEventListener("abort", group);
      }
    }
    return new Promise<void>((resolve) => {
      const waiter = new Waiter(resolve, group);
      group?.waiters.add(waiter);
      if (this.tail === undefined) {
        this.head = this.tail = waiter;
        this.schedule();
      } else {
        waiter.prev = this.tail;
        this.tail = this.tail.next = waiter;
      }
    });
  }

  // Starts the one timer for the moment the next token is due (or, when
  // tokens are due but the window is full, for the next millisecond); the
  // bucket has just been refilled.
  schedule(): void {
    const wait = this.tokens >= 1 - EPSILON
      ? 1
      : (1 - this.tokens) / this.perMs;
    // Whole milliseconds, rounded up: timers may truncate fractions and
    // fire early, which would cost a wasted wake-up.
    this.timer = this.clock.setTimer(this.wake, wait > 1 ? Math.ceil(wait) : 1);
  }

  // Moves the window to millisecond `ms`, dropping slots older than it.
  slide(ms: number): void {
    const gap = ms - this.slotMs;
    if (gap <= 0) return;
    if (gap >= SPAN_MS) {
      this.slots.fill(0);
      this.inWindow = 0;
    } else {
      for (let i = 1; i <= gap; i++) {
        const slot = (this.slotMs + i) % SPAN_MS;
        this.inWindow -= this.slots[slot];
        this.slots[slot] = 0;
      }
    }
    this.slotMs = ms;
  }

  onTimer(): void {
    this.timer = undefined;
    // Someone has waited ever since `last` (the queue was empty at the last
    // refill, and the timer is cleared when it empties), so every token that
    // accrued since belongs to the waiters: no cap at the burst until the
    // queue is served. Capping there would lose tokens whenever the timer
    // fires late.
    const now = this.clock.now();
    this.tokens += (now - this.last) * this.perMs;
    this.last = now;
    this.slide(Math.floor(now));
    let room = this.perWindow - this.inWindow;
    let granted = 0;
    let waiter = this.head;
    // Grant every waiter the elapsed time covers, not one per wake-up.
    while (waiter !== undefined && this.tokens >= 1 - EPSILON && room >= 1) {
      this.tokens -= 1;
      room -= 1;
      granted += 1;
      const next = waiter.next;
      if (waiter.group !== undefined) this.leaveGroup(waiter, waiter.group);
      waiter.next = undefined;
      waiter.resolve();
      waiter = next;
    }
    this.slots[this.slotMs % SPAN_MS] += granted;
    this.inWindow += granted;
    this.head = waiter;
    if (waiter === undefined) {
      this.tail = undefined;
      if (this.tokens > this.burst) this.tokens = this.burst;
    } else {
      waiter.prev = undefined;
      this.schedule();
    }
  }

  leaveGroup(waiter: Waiter, group: SignalGroup): void {
    group.waiters.delete(waiter);
    if (group.waiters.size === 0) {
      group.signal.removeEventListener("abort", group);
      this.groups.delete(group.signal);
    }
  }

  // Unlinks the waiters whose signal aborted, in O(1) each, and rejects
  // them. No token is returned or taken: the tokens they waited for go to
  // the waiters behind them.
  abortGroup(group: SignalGroup): void {
    group.signal.removeEventListener("abort", group);
    this.groups.delete(group.signal);
    const reason = group.signal.reason;
    for (const waiter of group.waiters) {
      const { prev, next } = waiter;
      if (prev === undefined) this.head = next;
      else prev.next = next;
      if (next === undefined) this.tail = prev;
      else next.prev = prev;
      waiter.prev = waiter.next = undefined;
      waiter.resolve(rejecting(reason));
    }
    group.waiters.clear();
    if (this.head === undefined && this.timer !== undefined) {
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.tokens = -Infinity; // fails the fast path in Limiter#acquire
    if (this.timer !== undefined) {
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
    let waiter = this.head;
    this.head = this.tail = undefined;
    // One error for the waiters this call rejects: creating an Error (and
    // its stack) per waiter would cost microseconds each.
    const error = waiter === undefined ? undefined : stoppedError();
    for (const group of this.groups.values()) {
      group.signal.removeEventListener("abort", group);
    }
    this.groups.clear();
    while (waiter !== undefined) {
      const next = waiter.next;
      waiter.prev = waiter.next = undefined;
      waiter.resolve(rejecting(error));
      waiter = next;
    }
  }
}

function checkNumber(name: string, value: unknown): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create a limiter: ${name} must be a number, got ${typeof value} ${
        String(value)
      }`,
    );
  }
  if (Number.isNaN(value)) {
    throw new RangeError(
      `Cannot create a limiter: ${name} must not be NaN, got ${value}`,
    );
  }
}

/**
 * A token bucket: {@linkcode Limiter.acquire} resolves when an operation may
 * proceed, at most `perSecond` per second after a burst of up to `burst`.
 * Create one with {@linkcode newLimiter}.
 *
 * Behaviour:
 * - Grants are strictly first in, first out.
 * - An acquire whose signal aborts leaves the queue at once (O(1)), rejects
 *   with `signal.reason`, takes no token and delays nobody behind it.
 * - {@linkcode Limiter.stop} rejects every pending and every later acquire
 *   with an `Error`; the limiter cannot be restarted.
 * - No timer exists while nobody waits, so an idle limiter never keeps the
 *   process alive; one ref'd timer exists while someone waits, so a pending
 *   `await lim.acquire()` keeps the process alive like any other timer.
 * - Each wake-up grants every waiter whose token has accrued, so pacing keeps
 *   its rate despite the runtime's timer floor (about 1 ms in Bun, 2 ms in
 *   Deno), but never more than 1.45 times the fair share (at least 2) in any
 *   11 ms: after the event loop was blocked (a long synchronous loop, a GC
 *   pause), the waiters it held up are released at about 1.3 times the rate
 *   over the next wake-ups instead of all at once, and no token is lost.
 * - An acquire that finds a token in hand and nobody waiting resolves
 *   without reading the clock (`performance.now()` costs 100-250 ns in Deno),
 *   and is charged at the next reading: at least every 32 grants, and before
 *   the last token is taken. Charged late, such grants can leave the bucket
 *   with up to 31 fewer tokens than an exact bucket would hold, if it would
 *   have filled up meanwhile; it never grants more.
 * - Waiters that share a signal share one abort listener on it, so 100 000
 *   acquires passed one shutdown signal cost one listener, not 100 000.
 *
 * @example Stopping on shutdown
 * ```ts
 * import { rejects } from "node:assert/strict";
 * import { Limiter } from "@netjoin/netjoin/limiter";
 *
 * const lim = new Limiter(10, { burst: 1 });
 * await lim.acquire(); // the one token of the burst
 * const pending = lim.acquire(); // would wait 100 ms for the next
 * lim.stop();
 * await rejects(pending, { message: "Cannot acquire from a stopped limiter" });
 * ```
 */
export class Limiter implements Disposable {
  #bucket: Bucket;

  /**
   * Creates a limiter. Prefer {@linkcode newLimiter}, which returns `null`
   * for a rate of 0 or less instead of throwing.
   *
   * @param perSecond Operations per second: positive, may be fractional
   * (0.5 grants one operation every 2 s) or `Infinity` (never waits).
   * @param options Burst size and initial fill.
   * @throws {TypeError} If `perSecond` or `options.burst` is not a number.
   * @throws {RangeError} If `perSecond` is NaN, 0 or negative, or
   * `options.burst` is NaN, below 1 or infinite.
   */
  constructor(perSecond: number, options: LimiterOptions = {}) {
    checkNumber("perSecond", perSecond);
    if (perSecond <= 0) {
      throw new RangeError(
        `Cannot create a limiter: perSecond must be positive, got ${perSecond} (newLimiter() returns null for it)`,
      );
    }
    let burst = Math.max(1, perSecond);
    if (options.burst !== undefined) {
      checkNumber("burst", options.burst);
      if (!(options.burst >= 1 && options.burst < Infinity)) {
        throw new RangeError(
          `Cannot create a limiter: burst must be finite and at least 1, got ${options.burst}`,
        );
      }
      burst = options.burst;
    }
    if (perSecond === Infinity) burst = Infinity; // never waits
    this.#bucket = new Bucket(
      perSecond,
      burst,
      perSecond !== Infinity && options.startEmpty === true,
    );
  }

  /**
   * Takes one slot, waiting in line until the bucket has a token.
   *
   * @param signal Aborts the wait: the promise rejects with `signal.reason`
   * and no token is taken. An already aborted signal rejects at once.
   * @returns A promise that resolves when the operation may proceed.
   * Rejects with an `Error` if the limiter is or gets stopped.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    // The uncontended fast path, inlined here (see Bucket#acquire); a
    // stopped bucket holds -Infinity tokens, so it never passes this test.
    const bucket = this.#bucket;
    if (
      signal === undefined && bucket.head === undefined &&
      bucket.tokens >= 2 && bucket.debt < UNCLOCKED_GRANTS
    ) {
      bucket.tokens -= 1;
      bucket.debt += 1;
      return GRANTED;
    }
    return bucket.acquire(signal);
  }

  /**
   * Stops the limiter: every pending and every later
   * {@linkcode Limiter.acquire} rejects with an `Error` ("Cannot acquire from
   * a stopped limiter"; the pending ones share one instance), and its timer,
   * if any, is cleared. Idempotent.
   */
  stop(): void {
    this.#bucket.stop();
  }

  /** Calls {@linkcode Limiter.stop}, so `using lim = newLimiter(n)` stops
   * the limiter at the end of the scope. */
  [Symbol.dispose](): void {
    this.#bucket.stop();
  }
}

/**
 * Creates a {@linkcode Limiter} granting up to `perSecond` operations per
 * second, with a burst of `perSecond` (at least 1) by default.
 *
 * A rate of 0 or less returns `null`: write `await lim?.acquire()` at call
 * sites and pass the limiter, or `null` for "unlimited", along without
 * checks. `Infinity` returns a limiter that never waits, whatever the
 * options (but still honours abort and {@linkcode Limiter.stop}). A fractional rate paces at that rate:
 * 0.5 grants one operation every 2 seconds, with a burst of 1.
 *
 * @example Optional pacing
 * ```ts
 * import { newLimiter } from "@netjoin/netjoin/limiter";
 *
 * const perSecond: number = 0; // from configuration: 0 turns pacing off
 * using lim = newLimiter(perSecond); // null
 * await lim?.acquire(); // a no-op
 * ```
 *
 * @example A smaller burst, starting empty
 * ```ts
 * import { newLimiter } from "@netjoin/netjoin/limiter";
 *
 * using lim = newLimiter(1000, { burst: 10, startEmpty: true });
 * await lim?.acquire(); // waits 1 ms
 * ```
 *
 * @param perSecond Operations per second.
 * @param options Burst size and initial fill.
 * @returns A limiter, or `null` when `perSecond` is 0 or less.
 * @throws {TypeError} If `perSecond` or `options.burst` is not a number.
 * @throws {RangeError} If `perSecond` is NaN, or `options.burst` is NaN,
 * below 1 or infinite.
 */
export function newLimiter(
  perSecond: number,
  options?: LimiterOptions,
): Limiter | null {
  checkNumber("perSecond", perSecond);
  if (perSecond <= 0) return null;
  return new Limiter(perSecond, options);
}
