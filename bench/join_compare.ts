// Side-by-side cost of netjoin's join+leave against a bare FFI setsockopt
// loop, in the runtime that runs it:
//   deno run -A bench/join_compare.ts [--quick] [--js-only]
//   bun bench/join_compare.ts [--quick] [--js-only]
// Rounds interleave the cases (A B C A B C ...) so drift hits all alike;
// the table gives the median ns per join+leave and the ratio to the bare
// loop of the same round.
//
// --js-only replaces libc's setsockopt, before setup, by a JavaScript function
// that returns 0: nothing reaches the kernel, and the table shows what
// netjoin's own JavaScript costs (checks, encoding, bookkeeping) next to the
// bare loop's, without the kernel's noise. The kernel tests are what show
// that the calls are right; this mode only times them.
import { setup } from "./_join_cases.ts";
import { libc } from "../ffi/mod.ts";

const quick = process.argv.includes("--quick");
const jsOnly = process.argv.includes("--js-only");
const ROUNDS = quick ? 3 : 15;
const ITERS = quick ? 2_000 : jsOnly ? 1_000_000 : 20_000;

if (jsOnly) {
  const symbols = libc().symbols as Record<
    "setsockopt" | "setsockopt_ptr",
    (...a: unknown[]) => number
  >;
  // Before setup, so that the baseline uses it too. The options openSocket
  // sets in setup are stubbed as well: here the socket only has to exist.
  symbols.setsockopt = symbols.setsockopt_ptr = () => 0;
}
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
  `${runtime}: ${ROUNDS} rounds x ${ITERS} join+leave, median ns per join+leave${
    jsOnly ? " (--js-only: setsockopt is a JavaScript stub)" : ""
  }`,
);
if (jsOnly) {
  console.log("| case | ns | ns more than bare |");
  console.log("|---|---:|---:|");
} else {
  console.log("| case | ns | ratio to bare FFI |");
  console.log("|---|---:|---:|");
}
cases.forEach(([name], i) => {
  const base = i < 3 ? 0 : 3;
  const last = jsOnly
    ? (median(ns[i].map((x, r) => x - ns[base][r]))).toFixed(1)
    : `${ratio(i, base).toFixed(3)}x`;
  console.log(
    `| ${name} | ${median(ns[i]).toFixed(jsOnly ? 1 : 0)} | ${last} |`,
  );
});
