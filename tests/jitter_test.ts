// Semantics of jitter.ts on a fake clock with an injected random source (no
// sleeping), plus a check that replicas started with the same `deno --seed`
// draw different delays. Runs under `deno test -A` and `bun test`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { setImmediate as flushed } from "node:timers/promises";
import { FakeClock, realClock, seededRandom, setClock } from "../_clock.ts";
import { jitter } from "../jitter.ts";
import { countedController } from "./_signals.ts";

// Runs `fn` with `clock` as the clock jitter() uses.
function withClock<T>(clock: FakeClock, fn: () => T): T {
  const previous = setClock(clock);
  try {
    return fn();
  } finally {
    setClock(previous);
  }
}

// Draws `n` delays from jitter(maxMs) with `random` injected.
function draws(n: number, maxMs: number, random: () => number): number[] {
  const clock = new FakeClock();
  clock.randomSource = random;
  withClock(clock, () => {
    for (let i = 0; i < n; i++) jitter(maxMs);
  });
  clock.tick(maxMs); // let them all resolve
  return clock.delays;
}

test("jitter() resolves at once without a timer for 0, negative or no maxMs", async () => {
  const clock = new FakeClock();
  const pending = withClock(clock, () => [
    jitter(0),
    jitter(-5),
    jitter(-Infinity),
    jitter(),
    jitter(undefined, {}),
  ]);
  assert.equal(clock.timersStarted, 0);
  assert.deepEqual(await Promise.all(pending), [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

test("jitter() throws a RangeError for NaN", () => {
  assert.throws(() => jitter(NaN), {
    name: "RangeError",
    message: "Cannot jitter: maxMs must not be NaN, got NaN",
  });
});

test("jitter() throws a RangeError for Infinity or more than a timer can wait", () => {
  assert.throws(() => jitter(Infinity), {
    name: "RangeError",
    message: /maxMs must be at most 2147483647, got Infinity/,
  });
  assert.throws(() => jitter(2 ** 31), RangeError);
});

test("jitter() throws a TypeError for a non-number maxMs", () => {
  assert.throws(() => jitter("100" as unknown as number), {
    name: "TypeError",
    message: "Cannot jitter: maxMs must be a number, got string 100",
  });
  assert.throws(() => jitter(null as unknown as number), TypeError);
});

test("jitter() sleeps random() times maxMs", async () => {
  const clock = new FakeClock();
  clock.randomSource = () => 0.25;
  let done = false;
  withClock(clock, () => jitter(1000)).then(() => done = true);
  assert.deepEqual(clock.delays, [250]);
  clock.tick(249);
  await flushed();
  assert.equal(done, false);
  clock.tick(1);
  await flushed();
  assert.equal(done, true);
  assert.equal(clock.pendingTimers, 0);
});

test("jitter() stays in [0, maxMs) at the ends of the random range", () => {
  assert.deepEqual(draws(1, 1000, () => 0), [0]);
  const [top] = draws(1, 1000, () => 1 - 2 ** -53);
  assert.ok(top < 1000, `${top}`);
});

test("jitter() delays are uniform over [0, maxMs) (chi-square and KS, 10 000 draws)", () => {
  const maxMs = 5000;
  const n = 10_000;
  const delays = draws(n, maxMs, seededRandom(["jitter goodness of fit"]));
  assert.equal(delays.length, n);
  assert.ok(delays.every((d) => d >= 0 && d < maxMs));
  // Pearson's chi-square over 20 equal bins: 19 degrees of freedom, 43.82 is
  // the 0.1 % critical value.
  const bins = new Array(20).fill(0);
  for (const d of delays) bins[Math.floor(d / maxMs * 20)]++;
  const expected = n / 20;
  const chi2 = bins.reduce((sum, o) => sum + (o - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 43.82, `chi-square ${chi2.toFixed(2)} over ${bins}`);
  // Kolmogorov-Smirnov against the uniform CDF: 1.95 / sqrt(n) is the
  // 0.1 % critical value.
  const sorted = delays.map((d) => d / maxMs).sort((a, b) => a - b);
  let ks = 0;
  sorted.forEach((x, i) => {
    ks = Math.max(ks, (i + 1) / n - x, x - i / n);
  });
  assert.ok(ks < 1.95 / Math.sqrt(n), `KS distance ${ks}`);
});

test("jitter() detects a skewed random source", () => {
  // the same test must fail for a source that is not uniform
  const skewed = seededRandom(["skewed"]);
  const delays = draws(10_000, 1000, () => skewed() ** 1.2);
  const bins = new Array(20).fill(0);
  for (const d of delays) bins[Math.floor(d / 1000 * 20)]++;
  const chi2 = bins.reduce((sum, o) => sum + (o - 500) ** 2 / 500, 0);
  assert.ok(chi2 > 43.82, `chi-square ${chi2.toFixed(2)}`);
});

test("jitter() rejects with signal.reason and clears its timer on abort", async () => {
  const clock = new FakeClock();
  const { controller, live } = countedController();
  const pending = withClock(
    clock,
    () => jitter(1000, { signal: controller.signal }),
  );
  assert.equal(clock.pendingTimers, 1);
  assert.equal(live(), 1);
  const reason = new Error("shutting down");
  controller.abort(reason);
  await assert.rejects(pending, (error) => error === reason);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(live(), 0);
});

test("jitter() rejects at once for an already aborted signal", async () => {
  const clock = new FakeClock();
  const pending = withClock(clock, () => [
    jitter(1000, { signal: AbortSignal.abort() }),
    jitter(0, { signal: AbortSignal.abort() }),
  ]);
  assert.equal(clock.timersStarted, 0);
  for (const p of pending) await assert.rejects(p, { name: "AbortError" });
});

test("jitter() removes its abort listener when it resolves", async () => {
  const clock = new FakeClock();
  const { controller, live } = countedController();
  const pending = withClock(
    clock,
    () => jitter(10, { signal: controller.signal }),
  );
  clock.tick(10);
  await pending;
  assert.equal(live(), 0);
});

test("the per-process random source differs between processes", () => {
  const seed = [0.5, 1, 2, 3, 4]; // what `deno --seed` fixes
  const a = seededRandom([...seed, 101, 1733300000000.123, 12.5, 9n]);
  const b = seededRandom([...seed, 102, 1733300000000.123, 12.5, 9n]);
  const c = seededRandom([...seed, 101, 1733300000000.123, 12.5, 10n]);
  const first = [a(), b(), c()];
  assert.equal(new Set(first).size, 3);
  assert.ok(first.every((x) => x >= 0 && x < 1));
  const again = seededRandom([...seed, 101, 1733300000000.123, 12.5, 9n]);
  assert.equal(again(), first[0]);
});

test("replicas started with the same `deno run --seed` draw different jitter", async () => {
  const isDeno = "Deno" in globalThis;
  const deno = isDeno
    ? process.execPath
    : fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
  if (!existsSync(deno)) return; // no Deno to launch replicas with
  const script = fileURLToPath(new URL("../_clock.ts", import.meta.url));
  const code = `
    import { realClock } from ${JSON.stringify(script)};
    console.log(JSON.stringify([Math.random(), realClock.random()]));
  `;
  const run = () =>
    new Promise<[number, number]>((resolve, reject) => {
      execFile(
        deno,
        ["eval", "--seed", "42", "--ext=ts", code],
        { timeout: 30_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`${error.message}\n${stderr}`));
          else resolve(JSON.parse(stdout));
        },
      );
    });
  const [a, b] = await Promise.all([run(), run()]);
  assert.equal(a[0], b[0], "--seed makes Math.random() identical");
  assert.notEqual(a[1], b[1], "jitter's source must still differ");
  assert.ok(typeof realClock.random() === "number");
});
