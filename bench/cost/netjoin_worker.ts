/**
 * netjoin's join+leave loops for bench/cost.ts, under Deno or Bun, with the
 * cases of bench/_join_cases.ts on `lo`:
 *
 * - `ssm-bytes`, `ssm-text`: netjoin (S,G) join+leave, 16-byte or text
 *   addresses; `ssm-bare`: the same two setsockopt calls through the bare
 *   FFI binding with prebuilt structs;
 * - `asm-bytes`, `asm-text`, `asm-bare`: the same for (*,G).
 *
 * Speaks the cost worker protocol (see join_loop.c): prints
 * "ready <runtime> <version>", then answers each "<case> <iterations>" line
 * with the mean ns per join+leave, or "error <text>"; exits at end of input.
 *
 * ```sh
 * printf 'ssm-text 20000\n' | deno run -A bench/cost/netjoin_worker.ts
 * printf 'ssm-text 20000\n' | bun bench/cost/netjoin_worker.ts
 * ```
 *
 * @module
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { setup } from "../_join_cases.ts";

type Loop = (iterations: number) => void;

const g = globalThis as unknown as {
  Bun?: { version: string };
  Deno?: { version: { deno: string } };
};
const runtime = g.Bun
  ? `Bun ${g.Bun.version}`
  : g.Deno
  ? `Deno ${g.Deno.version.deno}`
  : `unknown ${process.version}`;

function say(line: string): void {
  process.stdout.write(line + "\n");
}

let c: ReturnType<typeof setup>;
try {
  c = setup();
} catch (error) {
  say(`error setup: ${(error as Error).message}`);
  process.exit(1);
}

// One loop per case, each its own function, so every call site in a timed
// loop sees one callee.
const loops: Record<string, Loop> = {
  "ssm-bare": (n) => {
    for (let i = 0; i < n; i++) c.bareSsm();
  },
  "ssm-bytes": (n) => {
    for (let i = 0; i < n; i++) c.bytesSsm();
  },
  "ssm-text": (n) => {
    for (let i = 0; i < n; i++) c.textSsm();
  },
  "asm-bare": (n) => {
    for (let i = 0; i < n; i++) c.bareAsm();
  },
  "asm-bytes": (n) => {
    for (let i = 0; i < n; i++) c.bytesAsm();
  },
  "asm-text": (n) => {
    for (let i = 0; i < n; i++) c.textAsm();
  },
};

say(`ready ${runtime}`);
for await (const line of createInterface({ input: process.stdin })) {
  const [name, count] = line.trim().split(/\s+/);
  const iterations = Number(count);
  const loop = loops[name];
  if (loop === undefined || !(iterations > 0)) {
    say(`error bad request: ${line}`);
    continue;
  }
  try {
    const start = performance.now();
    loop(iterations);
    const elapsed = performance.now() - start;
    say((elapsed * 1e6 / iterations).toFixed(1));
  } catch (error) {
    say(`error ${(error as Error).message}`);
  }
}
