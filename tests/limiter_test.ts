// Semantics of limiter.ts on a fake clock (no sleeping), plus one real-clock
// check in a child process that an idle limiter lets the process exit.
// Runs under `deno test -A` and `bun test`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import process from "node:process";
import { setImmediate as flushed } from "node:timers/promises";
import { FakeClock, setClock } from "../_clock.ts";
import { Limiter, type LimiterOptions, newLimiter } from "../limiter.ts";
import { countedController } from "./_signals.ts";

function fakeLimiter(
  clock: FakeClock,
  perSecond: number,
  options?: LimiterOptions,
): Limiter {
  const previous = setClock(clock);
  try {
    const lim = newLimiter(perSecond, options);
    assert.ok(lim !== null);
    return lim;
  } finally {
    setClock(previous);
  }
}

// Lets settled promises run their callbacks.
async function flush(): Promise<void> {
  await flushed();
}

// Moves the fake clock `ms` forward in steps of `step`, flushing after each.
async function advance(clock: FakeClock, ms: number, step = 1): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.tick(Math.min(step, ms - done));
    await flush();
  }
}

// Starts `count` acquires and records, for each, when it settled and how.
function storm(
  clock: FakeClock,
  lim: Limiter,
  count: number,
  signals: (AbortSignal | undefined)[] = [],
): { granted: number[]; at: number[]; rejected: unknown[] } {
  const result = {
    granted: [] as number[],
    at: [] as number[],
    rejected: new Array<unknown>(count),
  };
  for (let i = 0; i < count; i++) {
    lim.acquire(signals[i]).then(
      () => {
        result.granted.push(i);
        result.at.push(clock.time);
      },
      (reason) => {
        result.rejected[i] = reason;
      },
    );
  }
  return result;
}

test("newLimiter() returns null for a rate of 0", () => {
  assert.equal(newLimiter(0), null);
});

test("newLimiter() returns null for negative rates", () => {
  assert.equal(newLimiter(-1), null);
  assert.equal(newLimiter(-0.5), null);
  assert.equal(newLimiter(-Infinity), null);
});

test("a null limiter makes `await lim?.acquire()` a no-op", async () => {
  const lim = newLimiter(0);
  assert.equal(await lim?.acquire(), undefined);
});

test("newLimiter() throws a TypeError for a non-number rate", () => {
  assert.throws(
    () => newLimiter("5" as unknown as number),
    { name: "TypeError", message: /perSecond must be a number, got string 5/ },
  );
  assert.throws(() => newLimiter(undefined as unknown as number), TypeError);
  assert.throws(() => newLimiter(5n as unknown as number), TypeError);
});

test("newLimiter() throws a RangeError for a NaN rate", () => {
  assert.throws(() => newLimiter(NaN), {
    name: "RangeError",
    message: /perSecond must not be NaN, got NaN/,
  });
});

test("newLimiter() rejects a burst below 1, NaN or infinite", () => {
  for (const burst of [0, 0.5, -1, NaN, Infinity]) {
    assert.throws(
      () => newLimiter(10, { burst }),
      RangeError,
      `burst ${burst}`,
    );
  }
  assert.throws(
    () => newLimiter(10, { burst: "2" as unknown as number }),
    TypeError,
  );
});

test("new Limiter() throws a RangeError for a rate of 0", () => {
  assert.throws(() => new Limiter(0), {
    name: "RangeError",
    message: /perSecond must be positive, got 0/,
  });
});

test("Limiter grants a burst of perSecond at once, then paces", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10);
  const run = storm(clock, lim, 13);
  await flush();
  assert.equal(run.granted.length, 10);
  assert.deepEqual(run.at, new Array(10).fill(0));
  await advance(clock, 300);
  assert.deepEqual(run.granted, [...Array(13).keys()]);
  assert.deepEqual(run.at.slice(10), [100, 200, 300]);
});

test("Limiter grants in call order", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 1 });
  const run = storm(clock, lim, 500);
  await advance(clock, 499, 2);
  assert.deepEqual(run.granted, [...Array(500).keys()]);
  // later callers still queue behind earlier ones
  const late = storm(clock, lim, 3);
  await advance(clock, 3);
  assert.deepEqual(late.granted, [0, 1, 2]);
});

test("Limiter caps the burst after a long idle time", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10);
  await Promise.all(Array.from({ length: 10 }, () => lim.acquire()));
  clock.tick(3_600_000);
  const run = storm(clock, lim, 25);
  await flush();
  assert.equal(run.granted.length, 10);
  await advance(clock, 1000, 10);
  assert.equal(run.granted.length, 20);
});

test("Limiter refills after idle time at its rate", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 100);
  await Promise.all(Array.from({ length: 100 }, () => lim.acquire()));
  clock.tick(250); // 25 tokens
  const run = storm(clock, lim, 30);
  await flush();
  assert.equal(run.granted.length, 25);
  await advance(clock, 50);
  assert.equal(run.granted.length, 30);
  assert.deepEqual(run.at.slice(25), [260, 270, 280, 290, 300]);
});

test("Limiter never grants more than the burst when granting without the clock", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10);
  for (let i = 0; i < 5; i++) await lim.acquire(); // fast path, clock unread
  clock.tick(100_000);
  const run = storm(clock, lim, 20);
  await flush();
  assert.ok(run.granted.length <= 10, `${run.granted.length} granted`);
  assert.ok(run.granted.length >= 5, `${run.granted.length} granted`);
});

test("Limiter honours a smaller burst", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 5 });
  const run = storm(clock, lim, 8);
  await flush();
  assert.equal(run.granted.length, 5);
  await advance(clock, 3);
  assert.deepEqual(run.at, [0, 0, 0, 0, 0, 1, 2, 3]);
});

test("Limiter with a fractional burst carries the fraction", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 4, { burst: 2.5 });
  const run = storm(clock, lim, 4);
  await flush();
  assert.equal(run.granted.length, 2);
  await advance(clock, 500, 5);
  // the half token left plus 250 ms of refill at 4/s covers the third
  assert.deepEqual(run.at, [0, 0, 125, 375]);
});

test("Limiter with startEmpty waits one interval for the first grant", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 4, { startEmpty: true });
  const run = storm(clock, lim, 2);
  await flush();
  assert.equal(run.granted.length, 0);
  await advance(clock, 500, 5);
  assert.deepEqual(run.at, [250, 500]);
});

test("Limiter paces a fractional rate of 0.5 per second with a burst of 1", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 0.5);
  const run = storm(clock, lim, 3);
  await flush();
  assert.equal(run.granted.length, 1);
  await advance(clock, 4000, 100);
  assert.deepEqual(run.at, [0, 2000, 4000]);
});

test("Limiter handles huge rates", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1e9, { burst: 1000 });
  const run = storm(clock, lim, 5000);
  await flush();
  assert.equal(run.granted.length, 1000);
  await advance(clock, 1); // 1 ms covers a million tokens: one wake-up
  assert.equal(run.granted.length, 5000);
  assert.equal(clock.timersStarted, 1);
  const huge = fakeLimiter(clock, Number.MAX_VALUE);
  const all = storm(clock, huge, 10_000);
  await flush();
  assert.equal(all.granted.length, 10_000);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter with an Infinity rate never waits and starts no timer", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, Infinity, { startEmpty: true, burst: 1 });
  const run = storm(clock, lim, 100_000);
  await flush();
  assert.equal(run.granted.length, 100_000);
  assert.equal(clock.timersStarted, 0);
  lim.stop();
  await assert.rejects(lim.acquire(), /stopped limiter/);
});

test("Limiter holds no timer while idle and one while anyone waits", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 10 });
  const run = storm(clock, lim, 10);
  await flush();
  assert.equal(run.granted.length, 10);
  assert.equal(clock.timersStarted, 0);
  storm(clock, lim, 1000);
  assert.equal(clock.pendingTimers, 1);
  assert.equal(clock.timersStarted, 1);
  await advance(clock, 998, 2);
  assert.equal(clock.pendingTimers, 1);
  await advance(clock, 2, 2);
  assert.equal(clock.pendingTimers, 0);
  // one timer per wake-up, not per waiter: 500 wake-ups of 2 grants, each
  // starting the next timer
  assert.equal(clock.timersStarted, 500);
});

test("Limiter grants every waiter the elapsed time covers on one wake-up", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 5000, { burst: 1 });
  const run = storm(clock, lim, 101);
  await flush();
  assert.equal(run.granted.length, 1);
  assert.deepEqual(clock.delays, [1]); // a timer's floor: 1 ms
  await advance(clock, 2, 2); // a timer late by Deno's floor: 2 ms, 10 tokens
  assert.equal(run.granted.length, 11);
  assert.equal(clock.timersStarted, 2, "one timer per wake-up, not per token");
});

test("Limiter releases a stalled event loop's backlog at about 1.3x the rate, losing nothing", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 1 });
  const run = storm(clock, lim, 1001);
  await flush();
  assert.equal(run.granted.length, 1);
  await advance(clock, 200, 200); // the loop was blocked for 200 ms
  // one window's worth now (1.45 x 10 ms at 1000/s), not 200 at once
  assert.equal(run.granted.length, 1 + 14);
  await advance(clock, 1100, 1);
  assert.equal(run.granted.length, 1001);
  // the backlog is paid back at about +30 % (1.45 windows' worth per 11 ms),
  // so the last grant comes a little after its token was due (1000 ms),
  // and no 10 ms window grants over 1.5x its share
  assert.ok(run.at[1000] <= 1060, `last grant at ${run.at[1000]}`);
  const windows = new Map<number, number>();
  for (const t of run.at.slice(1)) {
    windows.set(Math.floor(t / 10), (windows.get(Math.floor(t / 10)) ?? 0) + 1);
  }
  assert.ok(Math.max(...windows.values()) <= 15, `${[...windows.values()]}`);
});

test("Limiter keeps pace at a low rate whose 1.45x share rounds down", async () => {
  // At 200/s the window cap rounds to 2 per 11 ms (181/s) unless it leaves
  // room above the rate itself.
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 200, { burst: 1 });
  const run = storm(clock, lim, 201);
  await advance(clock, 1000, 2);
  assert.equal(run.granted.length, 201);
  assert.ok(run.at[200] <= 1000, `last grant at ${run.at[200]} ms`);
});

test("Limiter queues a synchronous loop that outlasts the burst, then paces it", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 10 });
  const first = storm(clock, lim, 10); // the burst
  clock.tick(50); // the loop runs on for 50 ms without yielding
  const rest = storm(clock, lim, 60);
  await flush();
  assert.equal(first.granted.length, 10);
  assert.equal(rest.granted.length, 0, "what accrued meanwhile is not dumped");
  await advance(clock, 1, 1);
  // one window's worth (1.45 x 10 ms at 1000/s) on the first wake-up
  assert.equal(rest.granted.length, 14);
  await advance(clock, 100, 1);
  assert.equal(rest.granted.length, 60);
  // the 50 ms backlog is paid back at up to 1.45x the rate: the 60th grant
  // comes by about 51 + 46 / 1.45 ms, and no 10 ms window holds over 15
  assert.ok(rest.at[59] <= 100, `last grant at ${rest.at[59]} ms`);
  const perWindow = new Map<number, number>();
  for (const at of rest.at) {
    const w = Math.floor(at / 10);
    perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
  }
  assert.ok(Math.max(...perWindow.values()) <= 15);
});

test("Limiter rejects an aborted waiter with signal.reason", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1 });
  await lim.acquire();
  const controller = new AbortController();
  const pending = lim.acquire(controller.signal);
  const reason = new Error("cancelled");
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter rejects with the default AbortError reason", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1, startEmpty: true });
  const controller = new AbortController();
  const pending = lim.acquire(controller.signal);
  controller.abort();
  await assert.rejects(pending, { name: "AbortError" });
});

test("Limiter removes a waiter aborted in the middle of the queue without delaying the rest", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1, startEmpty: true });
  const counted = [0, 1, 2, 3, 4].map(() => countedController());
  const run = storm(clock, lim, 5, counted.map((c) => c.controller.signal));
  assert.equal(counted.reduce((n, c) => n + c.live(), 0), 5);
  const reason = new Error("cancelled");
  counted[2].controller.abort(reason);
  await flush();
  assert.equal(run.rejected[2], reason);
  assert.equal(counted[2].live(), 0);
  await advance(clock, 400, 10);
  assert.deepEqual(run.granted, [0, 1, 3, 4]);
  // no token spent on the aborted waiter: one per 100 ms for the rest
  assert.deepEqual(run.at, [100, 200, 300, 400]);
  assert.equal(counted.reduce((n, c) => n + c.live(), 0), 0);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter removes aborted waiters at the head and the tail", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1, startEmpty: true });
  const controllers = [0, 1, 2].map(() => new AbortController());
  const run = storm(clock, lim, 3, controllers.map((c) => c.signal));
  controllers[0].abort();
  controllers[2].abort();
  await advance(clock, 100, 10);
  assert.deepEqual(run.granted, [1]);
  assert.deepEqual(run.at, [100]);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter rejects an already aborted signal at once without taking a token", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 2 });
  const reason = new Error("too late");
  await assert.rejects(
    lim.acquire(AbortSignal.abort(reason)),
    (e) => e === reason,
  );
  const run = storm(clock, lim, 3);
  await flush();
  assert.equal(run.granted.length, 2);
  assert.equal(clock.pendingTimers, 1);
  // and it did not queue behind waiters either
  await assert.rejects(
    lim.acquire(AbortSignal.abort(reason)),
    (e) => e === reason,
  );
});

test("Limiter leaves no listener or timer behind after 100 000 aborted waits", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1, startEmpty: true });
  const counted = Array.from({ length: 100_000 }, () => countedController());
  const pending = counted.map((c) => lim.acquire(c.controller.signal));
  assert.equal(clock.pendingTimers, 1);
  // abort from the tail, the head and the middle alike
  for (let i = 0; i < counted.length; i += 2) counted[i].controller.abort();
  for (let i = counted.length - 1; i > 0; i -= 2) counted[i].controller.abort();
  const results = await Promise.allSettled(pending);
  assert.ok(results.every((r) => r.status === "rejected"));
  assert.equal(counted.reduce((n, c) => n + c.live(), 0), 0);
  assert.equal(clock.pendingTimers, 0);
  // the queue is empty again: the next waiter is granted on schedule
  const run = storm(clock, lim, 1);
  await advance(clock, 100, 10);
  assert.deepEqual(run.at, [100]);
});

test("Limiter adds one listener to a signal shared by 100 000 waiters", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 1, startEmpty: true });
  const { controller, live } = countedController();
  const pending = Array.from(
    { length: 100_000 },
    () => lim.acquire(controller.signal),
  );
  assert.equal(live(), 1);
  await advance(clock, 10); // 10 granted
  assert.equal(live(), 1);
  controller.abort();
  const results = await Promise.allSettled(pending);
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 10);
  assert.equal(live(), 0);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter removes a shared signal's listener once its last waiter is granted", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000, { burst: 1, startEmpty: true });
  const { controller, live } = countedController();
  const run = storm(clock, lim, 3, [
    controller.signal,
    undefined,
    controller.signal,
  ]);
  assert.equal(live(), 1);
  await advance(clock, 3);
  assert.deepEqual(run.granted, [0, 1, 2]);
  assert.equal(live(), 0);
});

test("Limiter.stop() rejects every pending and every later acquire", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 10, { burst: 1 });
  const { controller, live } = countedController();
  const run = storm(clock, lim, 4, [undefined, controller.signal]);
  await flush();
  assert.deepEqual(run.granted, [0]);
  lim.stop();
  await flush();
  for (const i of [1, 2, 3]) {
    assert.ok(run.rejected[i] instanceof Error);
    assert.equal(
      (run.rejected[i] as Error).message,
      "Cannot acquire from a stopped limiter",
    );
  }
  assert.equal(live(), 0);
  assert.equal(clock.pendingTimers, 0);
  await assert.rejects(lim.acquire(), {
    message: "Cannot acquire from a stopped limiter",
  });
  lim.stop(); // idempotent
  await advance(clock, 1000, 100);
  assert.deepEqual(run.granted, [0]);
});

test("Limiter.stop() rejects later acquires even with tokens left", async () => {
  const clock = new FakeClock();
  const lim = fakeLimiter(clock, 1000);
  await lim.acquire();
  lim.stop();
  await assert.rejects(lim.acquire(), /stopped limiter/);
  clock.tick(10_000);
  await assert.rejects(lim.acquire(), /stopped limiter/);
});

test("Limiter stops at the end of a `using` scope", async () => {
  const clock = new FakeClock();
  let pending: Promise<void>;
  {
    using lim = fakeLimiter(clock, 1, { startEmpty: true });
    pending = lim.acquire();
  }
  await assert.rejects(pending, /stopped limiter/);
  assert.equal(clock.pendingTimers, 0);
});

test("Limiter lets the process exit when idle (real clock)", async () => {
  const url = new URL("../limiter.ts", import.meta.url).href;
  const script = `
    import { newLimiter } from ${JSON.stringify(url)};
    const lim = newLimiter(1000, { burst: 1 });
    for (let i = 0; i < 5; i++) await lim.acquire(); // 4 of them wait
    globalThis.kept = lim; // idle from here on, never stopped
    console.log("paced");
  `;
  const isDeno = "Deno" in globalThis;
  const args = isDeno ? ["eval", "--ext=ts", script] : ["-e", script];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { timeout: 20_000, killSignal: "SIGKILL" },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
  assert.equal(output.trim(), "paced");
});
