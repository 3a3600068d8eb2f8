/**
 * Join cost at scale: join+leave of one (S,G), and of one any-source group,
 * repeated on one socket on `lo`, by netjoin under Deno and Bun against
 *
 * - a C program making the same setsockopt calls with prebuilt structs
 *   (bench/cost/join_loop.c, compiled here with gcc -O2: the floor),
 * - netjoin's own bare FFI binding with prebuilt structs (what the FFI call
 *   itself costs in each runtime),
 * - `node:dgram` (`addSourceSpecificMembership`/`addMembership` and their
 *   drops) under Node, Bun and Deno (Deno's cannot do IPv6 (S,G): recorded),
 * - Go's golang.org/x/net/ipv6 (bench/cost/join_loop.go), when `go` and
 *   Debian's golang-golang-x-net-dev are installed; skipped otherwise.
 *
 * ```sh
 * deno run -A bench/cost.ts            # about a minute
 * deno run -A bench/cost.ts --quick    # a few seconds; checks that it works
 * deno run -A bench/cost.ts --rounds 40 --iterations 5000
 * ```
 *
 * Every contestant is a long-lived worker process (bench/cost/) that sets up
 * its socket once and then, on request, times N join+leave in a loop and
 * reports the mean ns per join+leave. This script asks them one at a time,
 * so no two loops compete for a core, round after round, with the order
 * reversed every other round (A B C, C B A, ...) so that drift hits all
 * alike. After one warm-up round it prints, per contestant, the median ns
 * over the rounds and the median and quartiles over the rounds of the ratio
 * to the C loop of the same round.
 *
 * Everything happens on the loopback interface: no report leaves the host.
 * The worker protocol (stdin/stdout, one line each way) is described in
 * bench/cost/join_loop.c.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { cpus, release } from "node:os";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    rounds: { type: "string" },
    iterations: { type: "string" },
  },
});
const quick = flags.quick!;
const ROUNDS = count(flags.rounds, quick ? 5 : 50);
const ITERATIONS = count(flags.iterations, quick ? 1_000 : 5_000);
const GOAL = 1.10;

const root = fileURLToPath(new URL("..", import.meta.url));
const here = `${root}bench/cost/`;
const build = `${root}bench/.build/`;

function count(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`expected a positive integer, got ${text}`);
  }
  return n;
}

type Case = "(S,G)" | "(*,G)";

/** One line of the table: a request to one worker. */
interface Series {
  kase: Case;
  worker: string;
  request: string;
  runtime: string;
  what: string;
  /** A failure here is a finding, not a fault of the bench. */
  mayFail?: boolean;
  ns: number[];
  ratios: number[];
  error?: string;
}

/** A contestant process speaking the worker protocol. */
class Worker {
  readonly version: string;
  readonly #child: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: { tail: string };

  private constructor(
    child: ChildProcess,
    lines: AsyncIterator<string>,
    stderr: { tail: string },
    version: string,
  ) {
    this.#child = child;
    this.#lines = lines;
    this.#stderr = stderr;
    this.version = version;
  }

  /** Starts a worker and waits for its "ready" line. */
  static async start(
    command: string,
    args: string[],
  ): Promise<Worker> {
    const child = spawn(command, args, {
      cwd: root,
      stdio: ["pipe", "pipe", "pipe"],
    });
    // A dead worker shows as the end of its output; ignore EPIPE and such.
    child.stdin!.on("error", () => {});
    const stderr = { tail: "" };
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (s: string) => {
      stderr.tail = (stderr.tail + s).slice(-2000);
    });
    const spawnError = new Promise<never>((_, reject) =>
      child.once("error", reject)
    );
    spawnError.catch(() => {});
    const lines = createInterface({ input: child.stdout! })[
      Symbol.asyncIterator
    ]();
    try {
      const first = await within(
        Promise.race([lines.next(), spawnError]),
        START_TIMEOUT_MS,
        "no ready line",
      );
      const line = first.done ? "" : first.value;
      if (!line.startsWith("ready ")) {
        throw new Error(
          (line || "exited before it was ready") +
            lastLine(stderr.tail),
        );
      }
      return new Worker(child, lines, stderr, line.slice(6).trim());
    } catch (error) {
      child.kill();
      throw error;
    }
  }

  /** Sends one request; resolves to the reply line. */
  async ask(request: string): Promise<string> {
    this.#child.stdin!.write(request + "\n");
    const next = await within(
      this.#lines.next(),
      REPLY_TIMEOUT_MS,
      `no reply to "${request}"`,
    );
    if (next.done) {
      throw new Error(`worker exited${lastLine(this.#stderr.tail)}`);
    }
    return next.value;
  }

  close(): void {
    this.#child.stdin!.end();
  }

  kill(): void {
    this.#child.kill();
  }
}

/** The last line of a worker's stderr, for an error message. */
function lastLine(text: string): string {
  const line = text.trim().split("\n").pop();
  return line ? `; stderr: ${line}` : "";
}

const START_TIMEOUT_MS = 60_000;
const REPLY_TIMEOUT_MS = 120_000;

/** `promise`, or a rejection with `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion; its status and output. */
function run(command: string, args: string[], env?: Record<string, string>) {
  const r = spawnSync(command, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return {
    ok: !r.error && r.status === 0,
    out: r.error ? r.error.message : `${r.stdout}${r.stderr}`.trim(),
  };
}

/** True when `output` is missing or older than `source`. */
function stale(source: string, output: string): boolean {
  return !existsSync(output) ||
    statSync(output).mtimeMs < statSync(source).mtimeMs;
}

const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const g = globalThis as unknown as { Deno?: { execPath(): string } };

/** How to start each runtime, or why it cannot be. */
function runtimes() {
  const found = new Map<string, string>();
  const missing = new Map<string, string>();
  const deno = g.Deno?.execPath() ?? bin("deno");
  const candidates: [string, string[]][] = [
    ["deno", [deno, "deno"]],
    ["bun", [bin("bun"), "bun"]],
    ["node", ["node"]],
  ];
  for (const [name, paths] of candidates) {
    const path = paths.find((p) => run(p, ["--version"]).ok);
    if (path) found.set(name, path);
    else missing.set(name, `${name} not found (tried ${paths.join(", ")})`);
  }
  return { found, missing };
}

/** Compiles the C loop if needed; throws with the compiler's output. */
function buildC(): string {
  const source = `${here}join_loop.c`;
  const output = `${build}join_loop`;
  if (stale(source, output)) {
    const cc = process.env.CC ?? "gcc";
    const r = run(cc, ["-O2", "-Wall", "-o", output, source]);
    if (!r.ok) throw new Error(`${cc} failed: ${r.out}`);
  }
  return output;
}

/** Builds the Go loop if Go and x/net are installed; else why not. */
function buildGo(): { path: string } | { skip: string } {
  const gopath = "/usr/share/gocode";
  const hint =
    "install Debian's golang-go and golang-golang-x-net-dev to include it";
  if (!run("go", ["version"]).ok) return { skip: `go not found: ${hint}` };
  if (!existsSync(`${gopath}/src/golang.org/x/net/ipv6`)) {
    return { skip: `golang.org/x/net/ipv6 not in ${gopath}: ${hint}` };
  }
  const source = `${here}join_loop.go`;
  const output = `${build}join_loop_go`;
  if (stale(source, output)) {
    const r = run("go", ["build", "-o", output, source], {
      GOPATH: gopath,
      GO111MODULE: "off",
      GOFLAGS: "",
      GOCACHE: `${build}go-cache`,
    });
    if (!r.ok) return { skip: `go build failed: ${r.out}` };
  }
  return { path: output };
}

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
}

async function main(): Promise<number> {
  const started = performance.now();
  const notes: string[] = [];
  let faults = 0;
  mkdirSync(build, { recursive: true });

  const { found, missing } = runtimes();
  for (const why of missing.values()) notes.push(`skipped: ${why}`);

  // Start every contestant; each sets up its socket once.
  const workers = new Map<string, Worker>();
  const specs: [name: string, command: string, args: string[]][] = [];
  try {
    specs.push(["c", buildC(), []]);
  } catch (error) {
    console.error(`Cannot build the C floor: ${(error as Error).message}`);
    return 1;
  }
  const deno = found.get("deno"), bun = found.get("bun");
  const node = found.get("node");
  const nj = `${here}netjoin_worker.ts`, dg = `${here}dgram_worker.mjs`;
  if (deno) {
    specs.push(["netjoin-deno", deno, ["run", "-A", nj]]);
    specs.push(["dgram-deno", deno, ["run", "-A", dg]]);
  }
  if (bun) {
    specs.push(["netjoin-bun", bun, [nj]]);
    specs.push(["dgram-bun", bun, [dg]]);
  }
  if (node) specs.push(["dgram-node", node, [dg]]);
  const go = buildGo();
  if ("path" in go) specs.push(["go", go.path, []]);
  else notes.push(`Go skipped: ${go.skip}`);

  for (const [name, command, args] of specs) {
    try {
      workers.set(name, await Worker.start(command, args));
    } catch (error) {
      notes.push(`${name} did not start: ${(error as Error).message}`);
      faults++;
    }
  }
  if (!workers.has("c")) {
    console.error(notes.join("\n"));
    return 1;
  }

  const series: Series[] = [];
  const add = (
    worker: string,
    request: string,
    runtime: string,
    what: string,
    mayFail = false,
  ) => {
    if (!workers.has(worker)) return;
    const kase: Case = request.startsWith("ssm") ? "(S,G)" : "(*,G)";
    series.push({
      kase,
      worker,
      request,
      runtime,
      what,
      mayFail,
      ns: [],
      ratios: [],
    });
  };
  for (
    const [kase, api, dgram] of [
      [
        "ssm",
        "MCAST_JOIN/LEAVE_SOURCE_GROUP",
        "add/dropSourceSpecificMembership",
      ],
      ["asm", "IPV6_JOIN/LEAVE_GROUP", "add/dropMembership"],
    ] as const
  ) {
    add("c", kase, "C", `setsockopt ${api}, prebuilt structs`);
    for (const rt of ["deno", "bun"] as const) {
      const name = rt === "deno" ? "Deno" : "Bun";
      add(`netjoin-${rt}`, `${kase}-text`, name, "netjoin, text addresses");
      add(`netjoin-${rt}`, `${kase}-bytes`, name, "netjoin, 16-byte addresses");
      add(
        `netjoin-${rt}`,
        `${kase}-bare`,
        name,
        "bare FFI setsockopt (by address)",
      );
    }
    add("dgram-node", kase, "Node", `node:dgram ${dgram}`);
    add("dgram-bun", kase, "Bun", `node:dgram ${dgram}`);
    add("dgram-deno", kase, "Deno", `node:dgram ${dgram}`, true);
    add(
      "go",
      kase,
      "Go",
      kase === "ssm"
        ? "x/net/ipv6 Join/LeaveSourceSpecificGroup"
        : "x/net/ipv6 JoinGroup/LeaveGroup (MCAST_JOIN/LEAVE_GROUP)",
    );
  }

  // A warm-up round (at least 5000 join+leave, for the JITs), then the
  // measured rounds, the order reversed every other round.
  const floor = (kase: Case) =>
    series.find((s) => s.worker === "c" && s.kase === kase)!;
  for (let round = -1; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? series : [...series].reverse();
    const ns = new Map<Series, number>();
    for (const s of order) {
      if (s.error !== undefined) continue;
      let reply: string;
      try {
        const n = round < 0 ? Math.max(ITERATIONS, 5_000) : ITERATIONS;
        reply = await workers.get(s.worker)!.ask(`${s.request} ${n}`);
      } catch (error) {
        // The worker died or hangs: stop it and drop all its lines.
        workers.get(s.worker)!.kill();
        for (const other of series) {
          if (other.worker === s.worker && other.error === undefined) {
            other.error = `${s.worker} stopped: ${(error as Error).message}`;
            faults++;
          }
        }
        continue;
      }
      const value = Number(reply);
      if (reply.startsWith("error") || !(value > 0)) {
        s.error = reply.replace(/^error\s*/, "");
        if (!s.mayFail) faults++;
        continue;
      }
      ns.set(s, value);
    }
    if (round < 0) continue;
    for (const s of series) {
      const v = ns.get(s), c = ns.get(floor(s.kase));
      if (v === undefined || c === undefined) continue;
      s.ns.push(v);
      s.ratios.push(v / c);
    }
  }
  for (const w of workers.values()) w.close();

  // The report.
  const versions = [...workers.entries()]
    .filter(([name]) => !name.startsWith("dgram-") || name === "dgram-node")
    .map(([, w]) => w.version)
    .filter((v, i, all) => all.indexOf(v) === i);
  const cpu = cpus();
  console.log(
    `### Join cost, ${
      new Date().toISOString().slice(0, 16).replace("T", " ")
    } UTC`,
  );
  console.log();
  console.log(
    `Linux ${release()}, ${cpu.length} cores (${
      cpu[0]?.model.trim() ?? "unknown cpu"
    }); ${versions.join(", ")}.`,
  );
  console.log(
    `Command: \`${g.Deno ? "deno run -A" : "bun"} bench/cost.ts${
      process.argv.slice(2).map((a) => " " + a).join("")
    }\`.`,
  );
  console.log(
    `${ROUNDS} interleaved rounds of ${ITERATIONS} join+leave per contestant` +
      ` on lo${quick ? " (--quick: numbers are rough)" : ""}.` +
      ` ns: median over rounds; ratio: median (p25–p75) over rounds of` +
      ` ns / ns of the C loop in the same round.`,
  );
  console.log();
  console.log(
    "| case | runtime | join+leave by | ns per join+leave | ratio to C | p25–p75 |",
  );
  console.log("|---|---|---|---:|---:|---:|");
  for (const s of series) {
    const head = `| ${s.kase} | ${s.runtime} | ${s.what} |`;
    if (s.error !== undefined) {
      console.log(`${head} fails: ${s.error} | – | – |`);
      continue;
    }
    const r = s.ratios;
    console.log(
      `${head} ${median(s.ns).toFixed(0)} | ${median(r).toFixed(3)}x | ${
        quantile(r, 0.25).toFixed(2)
      }–${quantile(r, 0.75).toFixed(2)} |`,
    );
  }
  console.log();
  const goal = series.filter((s) =>
    s.worker.startsWith("netjoin-") && !s.request.endsWith("-bare") &&
    s.error === undefined
  );
  if (goal.length > 0) {
    const list = (xs: Series[]) =>
      xs.map((s) =>
        `${s.runtime} ${s.kase} ${s.what.replace("netjoin, ", "")} ${
          median(s.ratios).toFixed(3)
        }x`
      ).join("; ") || "none";
    const within = goal.filter((s) => median(s.ratios) <= GOAL);
    const over = goal.filter((s) => median(s.ratios) > GOAL);
    console.log(
      `Goal, netjoin within ${GOAL.toFixed(2)}x of C${
        quick ? " (--quick: too few rounds for a verdict)" : ""
      }: met by ${list(within)}; missed by ${list(over)}.`,
    );
  }
  for (const s of series) {
    if (s.error !== undefined && s.mayFail) {
      notes.push(
        `${s.runtime}'s ${
          s.what.split(" ")[0]
        } cannot do ${s.kase} on IPv6: ${s.error}`,
      );
    }
  }
  for (const note of notes) console.log(`- ${note}`);
  console.log(
    `\n(${((performance.now() - started) / 1000).toFixed(1)} s in all)`,
  );
  return faults === 0 ? 0 : 1;
}

process.exitCode = await main();
