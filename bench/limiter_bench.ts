/**
 * Micro costs of `limiter.ts` and `jitter.ts`, each group against a bare
 * `await` of a resolved promise:
 *
 * ```sh
 * deno bench -A bench/limiter_bench.ts
 * ```
 *
 * The pacing itself (accuracy, smoothness, memory, CPU, and the npm
 * limiters side by side) is measured by `bench/limiter_compare.ts`.
 *
 * @module
 */

import { newLimiter } from "../limiter.ts";
import { jitter } from "../jitter.ts";

const RESOLVED = Promise.resolve();
// A rate no bench can exhaust: every acquire finds a token in hand.
const lim = newLimiter(1e12)!;
const off = newLimiter(0);
const signal = new AbortController().signal;

Deno.bench({
  name: "await a resolved promise",
  group: "uncontended acquire",
  baseline: true,
  async fn() {
    await RESOLVED;
  },
});

Deno.bench({
  name: "await lim.acquire() with a token in hand",
  group: "uncontended acquire",
  async fn() {
    await lim.acquire();
  },
});

Deno.bench({
  name: "await lim.acquire(signal) with a token in hand",
  group: "uncontended acquire",
  async fn() {
    await lim.acquire(signal);
  },
});

Deno.bench({
  name: "await a resolved promise",
  group: "null limiter",
  baseline: true,
  async fn() {
    await RESOLVED;
  },
});

Deno.bench({
  name: "await lim?.acquire() with newLimiter(0)",
  group: "null limiter",
  async fn() {
    await off?.acquire();
  },
});

Deno.bench({
  name: "await a resolved promise",
  group: "jitter(0)",
  baseline: true,
  async fn() {
    await RESOLVED;
  },
});

Deno.bench({
  name: "await jitter(0)",
  group: "jitter(0)",
  async fn() {
    await jitter(0);
  },
});

Deno.bench({
  name: "await jitter()",
  group: "jitter(0)",
  async fn() {
    await jitter();
  },
});

Deno.bench({
  name: "new Promise resolved at once",
  group: "queue 1 000 waiters, then stop()",
  baseline: true,
  async fn() {
    const all = new Array<Promise<void>>(1000);
    for (let i = 0; i < 1000; i++) all[i] = new Promise((r) => r());
    await Promise.allSettled(all);
  },
});

Deno.bench({
  name: "1 000 lim.acquire() queued, rejected by stop()",
  group: "queue 1 000 waiters, then stop()",
  async fn() {
    const queue = newLimiter(1, { startEmpty: true })!;
    const all = new Array<Promise<void>>(1000);
    for (let i = 0; i < 1000; i++) all[i] = queue.acquire();
    queue.stop();
    await Promise.allSettled(all);
  },
});
