/**
 * {@linkcode jitter}: sleep a uniformly random time, to spread the start of a
 * fleet of replicas so they do not all join their groups at the same moment.
 *
 * The random source is seeded once per process from `Math.random()`,
 * `crypto.getRandomValues()`, the process id, `performance.timeOrigin` and
 * the monotonic clock, so replicas started with the same `deno run --seed N`
 * (which makes `Math.random()` and `crypto.getRandomValues()` identical) still
 * draw different delays.
 *
 * @example Spreading a fleet's start over 5 seconds
 * ```ts
 * import { jitter } from "@netjoin/netjoin/jitter";
 *
 * await jitter(5_000, { signal: AbortSignal.timeout(10_000) });
 * // now join, paced by a limiter
 * ```
 *
 * @module
 */

import { getClock } from "./_clock.ts";

/** Options for {@linkcode jitter}. */
export interface JitterOptions {
  /**
   * Aborts the sleep: the promise rejects with `signal.reason` and the timer
   * is cleared. An already aborted signal rejects at once, whatever `maxMs`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/** The longest delay a timer can take in every runtime: 2^31 - 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Sleeps a uniformly random time in [0, `maxMs`) milliseconds.
 *
 * A `maxMs` of 0, a negative one or none resolves at once without a timer.
 * While it sleeps, the timer keeps the process alive, like `setTimeout`.
 *
 * @example Bounded jitter, abortable
 * ```ts
 * import { jitter } from "@netjoin/netjoin/jitter";
 *
 * const controller = new AbortController();
 * const sleeping = jitter(60_000, { signal: controller.signal });
 * controller.abort(); // e.g. on SIGTERM
 * await sleeping.catch((reason) => console.log("start-up cancelled:", reason));
 * ```
 *
 * @param maxMs The exclusive upper bound of the delay, in milliseconds.
 * @param options An abort signal.
 * @returns A promise that resolves after the delay, or rejects with
 * `signal.reason` when the signal aborts.
 * @throws {TypeError} If `maxMs` is neither a number nor `undefined`.
 * @throws {RangeError} If `maxMs` is NaN, or above 2 147 483 647 (about 24.8
 * days, the longest a timer can wait), including `Infinity`.
 */
export function jitter(maxMs?: number, options?: JitterOptions): Promise<void> {
  if (maxMs !== undefined && typeof maxMs !== "number") {
    throw new TypeError(
      `Cannot jitter: maxMs must be a number, got ${typeof maxMs} ${
        String(maxMs)
      }`,
    );
  }
  if (Number.isNaN(maxMs)) {
    throw new RangeError(`Cannot jitter: maxMs must not be NaN, got ${maxMs}`);
  }
  if (maxMs !== undefined && maxMs > MAX_TIMER_MS) {
    throw new RangeError(
      `Cannot jitter: maxMs must be at most ${MAX_TIMER_MS}, got ${maxMs}`,
    );
  }
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (maxMs === undefined || maxMs <= 0) return Promise.resolve();
  const clock = getClock();
  const ms = clock.random() * maxMs;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      signal!.removeEventListener("abort", onAbort);
      clock.clearTimer(timer);
      reject(signal!.reason);
    };
    const timer = clock.setTimer((): void => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort);
  });
}
