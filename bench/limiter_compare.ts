/**
 * Side-by-side comparison of netjoin's {@linkcode newLimiter} with the npm
 * rate limiters users pick today, each configured for the same rate:
 *
 * - storm: (1 + S)·R acquires issued at once (S = 2 s; the first R are the
 *   burst), elapsed time of the last grant against the ideal, the most
 *   grants in one 10 ms window after the burst, and the CPU time burned;
 * - uncontended: ns per `await acquire()` with a token in hand, against a
 *   bare `await` of a resolved promise;
 * - memory: heap bytes per queued waiter at 100 000 waiters, and (netjoin)
 *   the heap left after 100 000 aborted waits.
 *
 * Prints markdown tables. Run with
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/limiter_compare.ts
 * bun bench/limiter_compare.ts
 * ```
 *
 * `--quick` runs one small rate for 1 s and small counts, to check in CI that
 * the script works; its numbers mean little.
 *
 * The competitors are devDependencies of the bench only.
 *
 * @module
 */

import process from "node:process";
import { cpus } from "node:os";
import Bottleneck from "bottleneck";
import pThrottle from "p-throttle";
import { RateLimiter } from "limiter";
import rlf from "rate-limiter-flexible";
import { newLimiter } from "../limiter.ts";

const { RateLimiterMemory, RateLimiterQueue } = rlf;

const quick = process.argv.includes("--quick");
const RATES = quick ? [200] : [100, 1_000, 5_000, 100_000];
const STORM_S = quick ? 1 : 2; // seconds of pacing after the burst
const WAITERS = quick ? 10_000 : 100_000;
const WINDOW_MS = 10;

type Runtime = { name: string; version: string };
const g = globalThis as unknown as {
  Deno?: { version: { deno: string } };
  Bun?: { version: string; gc(force: boolean): void };
  gc?: () => void;
};
const runtime: Runtime = g.Deno
  ? { name: "Deno", version: g.Deno.version.deno }
  : g.Bun
  ? { name: "Bun", version: g.Bun.version }
  : { name: "Node", version: process.version };

function gc(): boolean {
  if (g.Bun) {
    g.Bun.gc(true);
    return true;
  }
  if (g.gc) {
    g.gc();
    g.gc();
    return true;
  }
  return false;
}

function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** One limiter under test, ready to pace at a rate. */
interface Adapter {
  acquire(): Promise<unknown>;
  close(): void | Promise<unknown>;
}

/** A limiter package and how it is configured for a rate `r` per second. */
interface Subject {
  name: string;
  config: string;
  /** Whether the memory test can use up the burst first (false where that
   * would take minutes: the waiters are then counted before the limiter
   * has had a turn of the event loop to grant any). */
  exhaust?: boolean;
  /** The highest rate to run storms at, where higher ones only time out. */
  maxRate?: number;
  make(r: number): Adapter;
}

const noop = (): undefined => undefined;
const RESOLVED = Promise.resolve();
const job = (): Promise<void> => RESOLVED;

const SUBJECTS: Subject[] = [
  {
    name: "netjoin",
    config: "`newLimiter(R)`",
    make(r) {
      const lim = newLimiter(r)!;
      return { acquire: () => lim.acquire(), close: () => lim.stop() };
    },
  },
  {
    name: "limiter",
    config: '`new RateLimiter({ tokensPerInterval: R, interval: "second" })`',
    make(r) {
      const lim = new RateLimiter({ tokensPerInterval: r, interval: "second" });
      return { acquire: () => lim.removeTokens(1), close: noop };
    },
  },
  {
    name: "bottleneck",
    config:
      "`reservoir: R, reservoirIncreaseAmount: R/100, reservoirIncreaseInterval: 10, reservoirIncreaseMaximum: R`",
    exhaust: false,
    maxRate: 1000,
    make(r) {
      const lim = new Bottleneck({
        reservoir: r,
        reservoirIncreaseAmount: Math.max(1, Math.round(r / 100)),
        reservoirIncreaseInterval: 10,
        reservoirIncreaseMaximum: r,
      });
      return {
        acquire: () => lim.schedule(job),
        close: () => lim.stop({ dropWaitingJobs: true }).catch(noop),
      };
    },
  },
  {
    name: "p-throttle (windowed)",
    config: "`pThrottle({ limit: R, interval: 1000 })`",
    make(r) {
      const stop = new AbortController();
      const throttled = pThrottle({
        limit: r,
        interval: 1000,
        signal: stop.signal,
      })(job);
      return { acquire: () => throttled(), close: () => stop.abort() };
    },
  },
  {
    name: "p-throttle (strict)",
    config: "`pThrottle({ limit: R, interval: 1000, strict: true })`",
    make(r) {
      const stop = new AbortController();
      const throttled = pThrottle({
        limit: r,
        interval: 1000,
        strict: true,
        signal: stop.signal,
      })(job);
      return { acquire: () => throttled(), close: () => stop.abort() };
    },
  },
  {
    name: "rate-limiter-flexible",
    config:
      "`new RateLimiterQueue(new RateLimiterMemory({ points: R, duration: 1 }))`",
    make(r) {
      const queue = new RateLimiterQueue(
        new RateLimiterMemory({ points: r, duration: 1 }),
      );
      return { acquire: () => queue.removeTokens(1), close: noop };
    },
  },
];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface StormResult {
  elapsedMs: number;
  granted: number;
  n: number;
  idealMs: number;
  maxPerWindow: number;
  p99PerWindow: number;
  issueMs: number;
  cpuMs: number;
  timedOut: boolean;
}

async function storm(
  subject: Subject,
  r: number,
  seconds = STORM_S,
): Promise<StormResult> {
  const n = Math.round((1 + seconds) * r);
  const idealMs = seconds * 1000;
  // Each storm starts from a collected heap, so no subject pays for the
  // garbage of the one before it.
  gc();
  const adapter = subject.make(r);
  const times = new Float64Array(n);
  let granted = 0;
  const record = (): void => {
    times[granted++] = performance.now();
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const all = new Array<Promise<unknown>>(n);
  for (let i = 0; i < n; i++) all[i] = adapter.acquire().then(record, noop);
  const issued = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    Promise.all(all).then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(
        () => resolve(true),
        quick ? idealMs * 2 + 1000 : idealMs * 3 + 5000,
      );
    }),
  ]);
  clearTimeout(timer);
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  // some close() calls wait for work they dropped: give them 2 s
  await Promise.race([adapter.close(), sleep(2000)]);
  // After the burst (the first r grants): grants per 10 ms window aligned
  // on the storm's start, the most in one window and the 99th percentile
  // over the windows of the pacing phase (empty ones included).
  const windows = new Map<number, number>();
  for (let i = r; i < granted; i++) {
    const w = Math.floor((times[i] - t0) / WINDOW_MS);
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  const counts = [...windows.values()];
  const span = Math.ceil(idealMs / WINDOW_MS);
  while (counts.length < span) counts.push(0);
  counts.sort((a, b) => a - b);
  const maxPerWindow = counts.length ? counts[counts.length - 1] : 0;
  const p99PerWindow = counts.length
    ? counts[Math.floor((counts.length - 1) * 0.99)]
    : 0;
  return {
    elapsedMs: (timedOut || !granted ? end : times[granted - 1]) - t0,
    granted,
    n,
    idealMs,
    maxPerWindow,
    p99PerWindow,
    issueMs: issued - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    timedOut,
  };
}

// ns per `await f()`, median of 5 runs of about 100 ms each.
async function nsPerAwait(f: () => Promise<unknown>): Promise<number> {
  let n = 16;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    if (performance.now() - t0 > 20) break;
    n *= 4;
  }
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await f();
  const perRunMs = performance.now() - t0;
  n = Math.max(16, Math.round(n * (quick ? 20 : 100) / perRunMs));
  const runs: number[] = [];
  for (let run = 0; run < 5; run++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) await f();
    runs.push((performance.now() - start) * 1e6 / n);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

// Heap bytes per queued waiter: use up the burst, queue WAITERS acquires
// and hold their promises, then let them drain (at R = WAITERS per second,
// within about a second).
async function bytesPerWaiter(subject: Subject): Promise<number> {
  const r = WAITERS;
  const adapter = subject.make(r);
  if (subject.exhaust !== false) await useUp(adapter, r);
  const before = heapUsed();
  const queued = new Array<Promise<unknown>>(WAITERS);
  for (let i = 0; i < WAITERS; i++) queued[i] = adapter.acquire();
  const after = heapUsed();
  if (subject.exhaust !== false) await Promise.all(queued);
  await Promise.race([adapter.close(), sleep(2000)]);
  await Promise.race([Promise.allSettled(queued), sleep(2000)]);
  // the array of promises (8 bytes a slot) is the caller's, not the limiter's
  return (after - before) / WAITERS - 8;
}

async function useUp(adapter: Adapter, r: number): Promise<void> {
  const burst = new Array<Promise<unknown>>(r);
  for (let i = 0; i < r; i++) burst[i] = adapter.acquire();
  await Promise.all(burst);
}

// Queues WAITERS acquires with a signal each (or one shared signal) and
// aborts them all; kept out of abortedWaitsHeap so that nothing of it stays
// reachable from that function's frame.
async function abortWaits(
  lim: NonNullable<ReturnType<typeof newLimiter>>,
  shared: boolean,
): Promise<void> {
  const shutdown = new AbortController();
  const controllers = Array.from(
    { length: WAITERS },
    () => shared ? shutdown : new AbortController(),
  );
  const pending = controllers.map((c) => lim.acquire(c.signal));
  for (const c of controllers) c.abort();
  await Promise.allSettled(pending);
}

async function abortedWaitsHeap(shared: boolean): Promise<number> {
  const lim = newLimiter(10, { burst: 1, startEmpty: true })!;
  await abortWaits(lim, true); // warm up the code paths
  const before = heapUsed();
  await abortWaits(lim, shared);
  await sleep(10);
  const after = heapUsed();
  lim.stop();
  return after - before;
}

// CPU ms that `count` chained setTimeout(ms) cost this runtime: the floor
// for any limiter that wakes that often.
async function timerCpu(count: number, ms: number): Promise<number> {
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) await sleep(ms);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

function fmt(x: number, digits = 0): string {
  return x.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

async function main(): Promise<void> {
  const canGc = gc();
  const out: string[] = [];
  const log = (line = ""): void => {
    out.push(line);
    console.log(line);
  };
  log(
    `### ${runtime.name} ${runtime.version}${
      quick ? " (--quick)" : ""
    }, ${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), ${
      new Date().toISOString().slice(0, 10)
    }`,
  );
  log();
  log(
    `Storm: ${1 + STORM_S}·R acquires issued at once; ideal ${STORM_S} s ` +
      `(a burst of R, then R/s; R per 1 s window gives the same). ` +
      `max/10 ms counts grants after the first R in 10 ms windows from the ` +
      `start (fair share R/100; target ≤ 1.5×), with the 99th percentile ` +
      `over the ${STORM_S * 100} windows in brackets. CPU: user + system ms ` +
      `for the whole storm, issuing included.`,
  );
  log();
  log(
    "| limiter | R/s | elapsed ms | ideal ms | error | max/10 ms (p99) | fair | issue ms | CPU ms |",
  );
  log("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
  // warm-up: let every subject's code (and this script's) get compiled
  for (const subject of SUBJECTS) {
    if (subject.exhaust !== false) await storm(subject, 1000, 0.1);
  }
  const skipped: string[] = [];
  for (const r of RATES) {
    for (const subject of SUBJECTS) {
      if (r > (subject.maxRate ?? Infinity)) {
        skipped.push(`${subject.name} at ${fmt(r)}/s`);
        continue;
      }
      const s = await storm(subject, r);
      const error = (s.elapsedMs - s.idealMs) / s.idealMs * 100;
      log(
        `| ${subject.name} | ${fmt(r)} | ${
          s.timedOut
            ? `> ${fmt(s.elapsedMs / 1000)} s (${fmt(s.granted)} of ${
              fmt(s.n)
            } granted)`
            : fmt(s.elapsedMs, 1)
        } | ${fmt(s.idealMs)} | ${error >= 0 ? "+" : ""}${fmt(error, 2)} % | ${
          fmt(s.maxPerWindow)
        } (${fmt(s.p99PerWindow)}) | ${fmt(r / 100, r < 100 ? 1 : 0)} | ${
          fmt(s.issueMs, 1)
        } | ${fmt(s.cpuMs)} |`,
      );
      await sleep(50);
    }
  }
  log();
  if (skipped.length) {
    log(
      `Not run: ${
        skipped.join(", ")
      } (bottleneck dispatches only about 200 jobs/s here, so these ` +
        `storms would only time out).`,
    );
    log();
  }
  const wakes = STORM_S * 100;
  log(
    `For scale: ${wakes} chained \`setTimeout(10)\` (one wake per token at ` +
      `R = 100/s for ${STORM_S} s) cost ${
        fmt(await timerCpu(wakes, 10))
      } ms CPU in this runtime.`,
  );
  log();
  log(
    `Uncontended: ns per \`await acquire()\` with a token in hand (R = 1e9/s), ` +
      `median of 5 runs; target ≤ 1.5× the bare await and ≤ 150 ns. ` +
      `Memory: heap bytes per queued waiter (no signal) at ${
        fmt(WAITERS)
      } waiters, less the caller's 8-byte array slot; target ≤ 300${
        canGc
          ? ""
          : " (no gc() available: run Deno with --v8-flags=--expose-gc)"
      }.`,
  );
  log();
  log(
    "| limiter | uncontended ns | bare await ns (same pass) | × bare | bytes/waiter |",
  );
  log("|---|--:|--:|--:|--:|");
  for (const subject of SUBJECTS) {
    const adapter = subject.make(1e9);
    // the baseline measured right before each subject: this machine's load
    // drifts between passes
    const bare = await nsPerAwait(() => RESOLVED);
    const ns = await nsPerAwait(() => adapter.acquire());
    await Promise.race([adapter.close(), sleep(2000)]);
    const bytes = await bytesPerWaiter(subject);
    log(
      `| ${subject.name} | ${fmt(ns, 1)} | ${fmt(bare, 1)} | ${
        fmt(ns / bare, 2)
      } | ${fmt(bytes)} |`,
    );
  }
  log();
  const perSignal = await abortedWaitsHeap(false);
  const shared = await abortedWaitsHeap(true);
  log(
    `netjoin heap after ${fmt(WAITERS)} aborted waits, against before: ` +
      `${fmt(perSignal / 1024)} KiB with a signal each, ${
        fmt(shared / 1024)
      } KiB with one shared signal.`,
  );
}

await main();
process.exit(0);
