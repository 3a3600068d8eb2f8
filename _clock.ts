/**
 * Time and randomness hooks for `limiter.ts` and `jitter.ts`.
 *
 * Internal module. The public functions read the clock, start timers and draw
 * random numbers only through the {@linkcode Clock} returned by
 * {@linkcode getClock}, so tests can swap in a fake clock with
 * {@linkcode setClock} and step time without sleeping. `node:test` mock timers
 * are not used because they do not behave the same in Bun.
 *
 * The real clock's {@linkcode Clock.random} is a generator seeded once per
 * process from `Math.random()`, `crypto.getRandomValues()`, the process id,
 * `performance.timeOrigin` and the monotonic clock in nanoseconds at start-up.
 * `deno run --seed N` makes the first two identical in every replica of a
 * fleet; the others still differ, so replicas launched with the same seed
 * still draw different jitter.
 *
 * @module
 */

import process from "node:process";

/** An opaque timer handle, as returned by {@linkcode Clock.setTimer}. */
export type TimerHandle = unknown;

/** Where the limiter and jitter get time, timers and random numbers. */
export interface Clock {
  /** Milliseconds from an arbitrary origin, monotonic. */
  now(): number;
  /** Calls `fn` once after about `ms` milliseconds; the timer keeps the
   * process alive until it fires or is cleared. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer from {@linkcode Clock.setTimer}; a no-op if it fired. */
  clearTimer(handle: TimerHandle): void;
  /** A uniformly distributed number in [0, 1). */
  random(): number;
}

/**
 * A 53-bit uniform generator (sfc32, two 32-bit outputs per draw) seeded from
 * `parts`. Exported for tests of the seeding.
 */
export function seededRandom(
  parts: readonly (string | number | bigint)[],
): () => number {
  // cyrb128-style string hash of all parts into four 32-bit words.
  const text = parts.join("|");
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  let a = (h1 ^ h2 ^ h3 ^ h4) >>> 0, b = (h2 ^ h1) >>> 0;
  let c = (h3 ^ h1) >>> 0, d = (h4 ^ h1) >>> 0;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next32(); // let the seed spread through
  // 27 + 26 bits: a uniform double in [0, 1) with all 53 bits random
  return (): number =>
    ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
}

function processEntropy(): (string | number | bigint)[] {
  const bytes = new Uint32Array(4);
  try {
    crypto.getRandomValues(bytes);
  } catch {
    // no Web Crypto: the other parts still differ per process
  }
  let hr: bigint | number = 0;
  try {
    hr = process.hrtime.bigint();
  } catch {
    hr = performance.now();
  }
  return [
    Math.random(),
    ...bytes,
    process.pid,
    performance.timeOrigin,
    performance.now(),
    hr,
  ];
}

let realRandom: (() => number) | undefined;

/** The clock of the running process: `performance.now()`, ref'd timers and a
 * per-process seeded generator (seeded on first use). */
export const realClock: Clock = {
  now: (): number => performance.now(),
  setTimer: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, ms),
  clearTimer: (handle: TimerHandle): void =>
    clearTimeout(handle as ReturnType<typeof setTimeout>),
  random: (): number => (realRandom ??= seededRandom(processEntropy()))(),
};

let current: Clock = realClock;

/** The clock new limiters and jitter calls use. */
export function getClock(): Clock {
  return current;
}

/** Replaces the clock for limiters created and jitter calls started from now
 * on; returns the previous one so a test can restore it. */
export function setClock(clock: Clock): Clock {
  const previous = current;
  current = clock;
  return previous;
}

/**
 * A clock for tests: time moves only through {@linkcode FakeClock.tick}, which
 * fires due timers in order, each at its due time.
 */
export class FakeClock implements Clock {
  /** The current time in milliseconds. */
  time = 0;
  /** Timers started so far, cleared or not. */
  timersStarted = 0;
  /** The random source; a constant by default. */
  randomSource: () => number = (): number => 0.5;
  /** The delays passed to {@linkcode FakeClock.setTimer}, in order. */
  readonly delays: number[] = [];
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  /** Starts at `time` milliseconds. */
  constructor(time = 0) {
    this.time = time;
  }
  /** The current fake time. */
  now(): number {
    return this.time;
  }
  /** Records a timer due `ms` from now. */
  setTimer(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.timersStarted++;
    this.delays.push(ms);
    this.#timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }
  /** Forgets a timer. */
  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }
  /** Draws from {@linkcode FakeClock.randomSource}. */
  random(): number {
    return this.randomSource();
  }
  /** Timers started and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }
  /** Moves time forward by `ms`, then fires every timer due by then, in
   * order of due time, all late, at the new time (as a busy or coarse event
   * loop would); timers they start fire only if due by then too. */
  tick(ms: number): void {
    const end = this.time + ms;
    this.time = end;
    for (;;) {
      let dueId = 0;
      let due: { at: number; fn: () => void } | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= end && (due === undefined || timer.at < due.at)) {
          dueId = id;
          due = timer;
        }
      }
      if (due === undefined) break;
      this.#timers.delete(dueId);
      due.fn();
    }
  }
}
