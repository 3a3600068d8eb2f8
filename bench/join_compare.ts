// Side-by-side cost of netjoin's join+leave against a bare FFI setsockopt
// loop, in the runtime that runs it:
//   deno run -A bench/join_compare.ts [--quick]
//   bun bench/join_compare.ts [--quick]
// Rounds interleave the cases (A B C A B C ...) so drift hits all alike;
// the table gives the median ns per join+leave and the ratio to the bare
// loop of the same round.
import { setup } from "./_join_cases.ts";

const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 3 : 15;
const ITERS = quick ? 2_000 : 20_000;

const c = setup();
const cases = [
  ["(S,G) bare FFI", c.bareSsm],
  ["(S,G) netjoin, 16-byte", c.bytesSsm],
  ["(S,G) netjoin, text", c.textSsm],
  ["(*,G) bare FFI", c.bareAsm],
  ["(*,G) netjoin, 16-byte", c.bytesAsm],
  ["(*,G) netjoin, text", c.textAsm],
] as const;

function time(fn: () => void): number {
  const start = performance.now();
  for (let i = 0; i < ITERS; i++) fn();
  return (performance.now() - start) * 1e6 / ITERS;
}

for (const [, fn] of cases) time(fn); // warm up
const ns: number[][] = cases.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  cases.forEach(([, fn], i) => ns[i].push(time(fn)));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
/** Median over rounds of the per-round ratio to the round's bare loop. */
const ratio = (i: number, base: number) =>
  median(ns[i].map((x, r) => x / ns[base][r]));

const runtime = "Bun" in globalThis
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${Deno.version.deno}`;
console.log(
  `${runtime}: ${ROUNDS} rounds x ${ITERS} join+leave, median ns per join+leave`,
);
console.log("| case | ns | ratio to bare FFI |");
console.log("|---|---:|---:|");
cases.forEach(([name], i) => {
  const base = i < 3 ? 0 : 3;
  console.log(
    `| ${name} | ${median(ns[i]).toFixed(0)} | ${ratio(i, base).toFixed(3)}x |`,
  );
});
