// Cold-start storm and scale edges, on a real kernel, in network namespaces
// this script makes and deletes itself (root, or a user that may `unshare -n`):
//   deno run -A bench/storm.ts [--listeners L] [--sources M] [--rate R]
//     [--fast-rate R2] [--batch N] [--processes P] [--jitter MS] [--burst B]
//     [--report-interval MS] [--quick] [--no-edges] [--edges-only]
//   bun bench/storm.ts [same flags]
// STORM_DEBUG=1 prints every captured MLD packet. Results: bench/README.md.
//
// Rig: a listener namespace whose veth `vl` leads to an upstream namespace,
// where the other end `vu` is a port of a Linux bridge acting as the MLDv2
// router (snooping, querier, MLDv2). Listener i joins group ff3e::5:<i+1>
// from sources 2001:db8:5::1 .. ::M, one (S,G) per join, so L x M distinct
// (S,G) change on the interface. The upstream side is watched with an
// AF_PACKET tap on `vu` (kernel timestamps, no tcpdump needed) and by
// polling the bridge's mdb. Scenarios: cold (no pacing); limiter at R
// joins/s; limiter at --fast-rate (default 10 R); the fast rate as batches
// of N joins per token; jitter + limiter over P processes (R/P each, so the
// host budget stays R); cold with every socket joining the same M (S,G).
// Then the scale edges: the 65th source, optmem_max, RSS for L x M.
//
// The script runs itself in roles: `--role capture` (the tap, inside the
// upstream namespace), `--role listener` (sockets and joins, inside the
// listener namespace) and `--role edges` (part 3, inside the listener
// namespace). Every namespace is held by an `unshare -n sleep` process and
// dies with it; all of them, and all children, are killed on exit, on
// failure and on Ctrl-C.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { createInterface } from "node:readline";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatIPv6, parseIPv6 } from "../_address.ts";
import { Netns, sh } from "../tests/_netns.ts";
import { libc, openLibcSymbols } from "../ffi/mod.ts";
import {
  closeSocket,
  interfaceIndex,
  jitter,
  join,
  NetjoinError,
  newLimiter,
  openSocket,
} from "../mod.ts";

const { values: opt } = parseArgs({
  args: process.argv.slice(2),
  options: {
    role: { type: "string" },
    listeners: { type: "string" },
    sources: { type: "string" },
    rate: { type: "string" },
    processes: { type: "string" },
    jitter: { type: "string" },
    burst: { type: "string" },
    "fast-rate": { type: "string" },
    batch: { type: "string" },
    "report-interval": { type: "string" },
    quick: { type: "boolean", default: false },
    "no-edges": { type: "boolean", default: false },
    "edges-only": { type: "boolean", default: false },
    // listener role
    ifname: { type: "string" },
    first: { type: "string" },
    count: { type: "string" },
    shared: { type: "boolean", default: false },
  },
  strict: true,
});

const num = (v: string | undefined, d: number): number => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`bad number ${v}`);
  return n;
};

/** Wall-clock milliseconds with sub-millisecond precision (CLOCK_REALTIME,
 * the clock the kernel stamps packets with). */
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const groupOf = (i: number) => `ff3e::5:${(i + 1).toString(16)}`;
const sourceOf = (j: number) => `2001:db8:5::${(j + 1).toString(16)}`;
const canon = (text: string) => formatIPv6(parseIPv6(text)!);

/** The bridge keeps at most this many sources per port and group
 * (PG_SRC_ENT_LIMIT in net/bridge/br_private.h); more never reach the mdb. */
const BRIDGE_SOURCES_PER_GROUP = 32;

function vmRssKiB(): number {
  const m = readFileSync("/proc/self/status", "utf8").match(
    /VmRSS:\s+(\d+) kB/,
  );
  return m ? Number(m[1]) : NaN;
}

/** Calls `fn` with each line of stdin; exits when stdin closes. */
function onStdinLine(fn: (line: string) => void): void {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", fn);
  rl.on("close", () => process.exit(0));
}

function say(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + "\n");
}

/** Says `message`, then exits once stdout has taken it all (Bun and Node
 * write to a pipe asynchronously: exiting at once would cut a long line). */
function sayAndExit(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + "\n", () => process.exit(0));
}

// ---------------------------------------------------------------- capture

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL)
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SOL_PACKET = 263;
const PACKET_STATISTICS = 6;
const SIOCGSTAMPNS = 0x8907;
const MSG_DONTWAIT = 0x40;
const PACKET_OUTGOING = 4;

interface Record6 {
  type: number; // MLDv2 record type: 1 IS_IN .. 6 BLOCK
  group: string;
  sources: string[];
}
interface Packet {
  t: number; // ms, CLOCK_REALTIME
  icmp: number; // 130 query, 143 MLDv2 report
  out: boolean; // sent by the upstream side (queries)
  records: Record6[];
}

/** An AF_PACKET tap on `ifname`: buffers everything in the kernel (with a
 * kernel timestamp per packet) until told "stop", then drains and prints the
 * MLD packets. Taps see a bridge port's traffic before the bridge does. */
function captureMain(ifname: string): void {
  const n = libc();
  const extra = openLibcSymbols(
    {
      // int ioctl(int fd, unsigned long request, void *arg);
      ioctl: { parameters: ["i32", "usize", "buffer"], result: "i32" },
    } as const,
  );
  const fd = n.symbols.socket(AF_PACKET, SOCK_RAW, ETH_P_ALL_BE);
  if (fd < 0) throw new Error(`AF_PACKET socket failed: errno ${n.errno()}`);
  const int = new Uint8Array(4);
  new DataView(int.buffer).setInt32(0, 256 << 20, true);
  if (n.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int, 4) !== 0) {
    throw new Error(`SO_RCVBUFFORCE failed: errno ${n.errno()}`);
  }
  const sll = new Uint8Array(20);
  const sv = new DataView(sll.buffer);
  sv.setUint16(0, AF_PACKET, true);
  sv.setUint16(2, ETH_P_ALL_BE, true);
  sv.setInt32(4, interfaceIndex(ifname), true);
  if (n.symbols.bind(fd, sll, 20) !== 0) {
    throw new Error(`bind AF_PACKET failed: errno ${n.errno()}`);
  }
  const ts = new Uint8Array(16);
  const tv = new DataView(ts.buffer);
  // The first SIOCGSTAMPNS turns on receive timestamps (ENOENT: no packet
  // yet); from then on every packet is stamped when the tap receives it.
  extra.symbols.ioctl(fd, SIOCGSTAMPNS, ts);
  const packets: Packet[] = [];
  const buf = new Uint8Array(65536);
  const from = new Uint8Array(20);
  const fromLen = new Uint8Array(4);
  let queried = false;
  // Drains what the kernel queued; tells the parent about the first query.
  const drain = () => {
    for (;;) {
      new DataView(fromLen.buffer).setUint32(0, 20, true);
      const len = Number(
        n.symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, from, fromLen),
      );
      if (len < 0) break; // EAGAIN: drained
      if (extra.symbols.ioctl(fd, SIOCGSTAMPNS, ts) !== 0) continue;
      const t = Number(tv.getBigInt64(0, true)) * 1e3 +
        Number(tv.getBigInt64(8, true)) / 1e6;
      const p = parseMld(buf.subarray(0, len), t, from[10] === PACKET_OUTGOING);
      if (p === undefined) continue;
      packets.push(p);
      if (p.icmp === 130 && !queried) {
        queried = true;
        say({ query: p.t });
      }
    }
  };
  say({ ready: true });
  const timer = setInterval(drain, 50);
  onStdinLine((line) => {
    if (line !== "stop") return;
    clearInterval(timer);
    drain();
    const stats = new Uint8Array(8);
    const statsLen = new Uint8Array(4);
    new DataView(statsLen.buffer).setUint32(0, 8, true);
    n.symbols.getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, stats, statsLen);
    const st = new DataView(stats.buffer);
    n.symbols.close(fd);
    sayAndExit({
      packets,
      seen: st.getUint32(0, true),
      drops: st.getUint32(4, true),
    });
  });
}

/** An Ethernet frame to an MLD packet, or undefined for anything else. */
function parseMld(f: Uint8Array, t: number, out: boolean): Packet | undefined {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (f.length < 62 || v.getUint16(12) !== 0x86dd) return undefined;
  let next = f[14 + 6];
  let off = 14 + 40;
  while (next === 0 || next === 60) { // hop-by-hop (router alert), dest opts
    next = f[off];
    off += (f[off + 1] + 1) * 8;
  }
  if (next !== 58 || off >= f.length) return undefined;
  const icmp = f[off];
  if (icmp === 130) return { t, icmp, out, records: [] };
  if (icmp !== 143) return undefined;
  const records: Record6[] = [];
  const nrec = v.getUint16(off + 6);
  let r = off + 8;
  for (let k = 0; k < nrec && r + 20 <= f.length; k++) {
    const type = f[r];
    const aux = f[r + 1];
    const nsrc = v.getUint16(r + 2);
    const group = formatIPv6(f, r + 4);
    const sources: string[] = [];
    for (let s = 0; s < nsrc; s++) sources.push(formatIPv6(f, r + 20 + 16 * s));
    records.push({ type, group, sources });
    r += 20 + 16 * nsrc + 4 * aux;
  }
  return { t, icmp, out, records };
}

// --------------------------------------------------------------- listener

/** Opens `count` sockets; on "go" joins, for socket k, group first+k from
 * the M sources, one (S,G) per join, each behind the limiter (if any),
 * after a jitter; reports; closes everything on "exit". */
function listenerMain(): void {
  const ifname = opt.ifname!;
  const first = num(opt.first, 0);
  const count = num(opt.count, 1);
  const m = num(opt.sources, 1);
  const rate = num(opt.rate, 0);
  const burst = num(opt.burst, 1);
  const jitterMs = num(opt.jitter, 0);
  const batch = Math.max(1, num(opt.batch, 1));
  const shared = opt.shared;
  const rss0 = vmRssKiB();
  const idx = interfaceIndex(ifname);
  const fds: number[] = [];
  for (let k = 0; k < count; k++) fds.push(openSocket());
  const groups = fds.map((_, k) => canon(groupOf(shared ? 0 : first + k)));
  const sources = Array.from({ length: m }, (_, j) => canon(sourceOf(j)));
  const rss1 = vmRssKiB();
  say({ ready: true });
  let started = false;
  onStdinLine((line) => {
    if (line === "exit") {
      for (const fd of fds) closeSocket(fd);
      process.exit(0);
    }
    if (line !== "go" || started) return;
    started = true;
    void (async () => {
      const go = now();
      await jitter(jitterMs);
      using lim = newLimiter(rate, { burst });
      const times: number[] = [];
      const errors: Record<string, number> = {};
      let firstErr: string | undefined;
      const start = now();
      let inBatch = 0;
      for (let k = 0; k < fds.length; k++) {
        for (const src of sources) {
          // One token per `batch` joins.
          if (inBatch++ % batch === 0) await lim?.acquire();
          try {
            join(fds[k], idx, groups[k], [src]);
            times.push(now());
          } catch (error) {
            const code = error instanceof NetjoinError ? error.code : "other";
            errors[code] = (errors[code] ?? 0) + 1;
            firstErr ??= String(error);
          }
        }
      }
      say({
        done: {
          go,
          start,
          end: now(),
          times,
          errors,
          firstErr,
          rssKiB: [rss0, rss1, vmRssKiB()],
        },
      });
    })();
  });
}

// ------------------------------------------------------------------ edges

function edgesMain(): void {
  const ifname = opt.ifname!;
  const l = num(opt.listeners, 200);
  const m = num(opt.sources, 50);
  const idx = interfaceIndex(ifname);
  const optmemPath = "/proc/sys/net/core/optmem_max";
  const defaultOptmem = Number(readFileSync(optmemPath, "utf8").trim());
  const src = (j: number) => `2001:db8:6::${(j + 1).toString(16)}`;
  const grp = (k: number) => `ff3e::6:${(k + 1).toString(16)}`;
  const opened: number[] = [];
  const open = () => {
    const fd = openSocket();
    opened.push(fd);
    return fd;
  };
  const closeAll = () => {
    while (opened.length > 0) closeSocket(opened.pop()!);
  };
  const errorOf = (fn: () => void): NetjoinError | undefined => {
    try {
      fn();
    } catch (error) {
      if (error instanceof NetjoinError) return error;
      throw error;
    }
    return undefined;
  };
  const out: Record<string, unknown> = { defaultOptmem };

  // 1. RSS of this process for L sockets x M sources (first: small heap).
  {
    // Warm up: libc, the join path and the state table are loaded first.
    const warm = open();
    join(warm, idx, grp(4999), [src(0)]);
    closeAll();
    const rss0 = vmRssKiB();
    const fds = Array.from({ length: l }, open);
    const rss1 = vmRssKiB();
    const sources = Array.from({ length: m }, (_, j) => src(j));
    const t0 = performance.now();
    let errors = 0;
    fds.forEach((fd, k) => {
      if (errorOf(() => join(fd, idx, grp(5000 + k), sources))) errors++;
    });
    const ms = performance.now() - t0;
    const rss2 = vmRssKiB();
    out.rss = {
      l,
      m,
      rss0,
      rss1,
      rss2,
      ms,
      errors,
      omem: socketOptmem(),
      inc: mcfilterCount(idx),
    };
    closeAll();
    out.rss3 = vmRssKiB();
  }
  // 2. The 65th source of one group on one socket.
  {
    const fd = open();
    const g = grp(0);
    let joined = 0;
    let err: NetjoinError | undefined;
    for (let j = 0; j < 200 && err === undefined; j++) {
      err = errorOf(() => join(fd, idx, g, [src(j)]));
      if (err === undefined) joined++;
    }
    // The way around: the next sources on a second socket.
    const fd2 = open();
    const more = Array.from({ length: 64 }, (_, j) => src(joined + j));
    const err2 = errorOf(() => join(fd2, idx, g, more));
    out.msf = {
      joined,
      code: err?.code,
      message: err?.message,
      secondSocket: err2 === undefined ? `ok, ${more.length} more` : err2.code,
      inc: mcfilterCount(idx, canon(g)),
    };
    closeAll();
  }

  // 3. Option memory: one socket, groups of M sources (and of 1 source)
  // until the kernel refuses, at a small and at the default optmem_max.
  const optmemRuns: unknown[] = [];
  for (const limit of [20480, defaultOptmem]) {
    writeFileSync(optmemPath, String(limit));
    for (const perGroup of [1, Math.min(m, 64)]) {
      const fd = open();
      let groups = 0;
      let pairs = 0;
      let err: NetjoinError | undefined;
      const srcs = Array.from({ length: perGroup }, (_, j) => src(j));
      for (let k = 0; k < 100_000 && err === undefined; k++) {
        err = errorOf(() => join(fd, idx, grp(1000 + k), srcs));
        if (err === undefined) {
          groups++;
          pairs += perGroup;
        }
      }
      const omem = socketOptmem();
      // The way around: the same memberships spread over more sockets.
      const target = 2 * pairs;
      let spread = 0;
      let sockets = 0;
      let spreadErr: string | undefined;
      for (let k = 0; spread < target && spreadErr === undefined;) {
        const s = open();
        sockets++;
        for (let g = 0; g < groups && spread < target; g++, k++) {
          const e = errorOf(() => join(s, idx, grp(1000 + k), srcs));
          if (e !== undefined) {
            spreadErr = e.code;
            break;
          }
          spread += perGroup;
        }
      }
      optmemRuns.push({
        limit,
        perGroup,
        groups,
        pairs,
        code: err?.code,
        message: err?.message,
        omemPeak: omem,
        spread,
        sockets,
        spreadErr,
      });
      closeAll();
    }
  }
  writeFileSync(optmemPath, String(defaultOptmem));
  out.optmem = optmemRuns;

  sayAndExit(out);
}

/** Rows of /proc/net/mcfilter6 on `ifindex` (for `group`, if given) with a
 * socket including the source. */
function mcfilterCount(ifindex: number, group?: string): number {
  const text = readFileSync("/proc/net/mcfilter6", "utf8");
  let count = 0;
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || Number(f[0]) !== ifindex) continue;
    if (group !== undefined && f[2] !== hex(group)) continue;
    if (Number(f[4]) > 0) count++;
  }
  return count;
}

const hex = (text: string) =>
  Array.from(parseIPv6(text)!, (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );

/** The option memory (`ss` skmem o) of this namespace's UDP sockets: max
 * over sockets and total, in bytes. */
function socketOptmem(): { max: number; total: number } | undefined {
  const r = spawnSync("ss", ["-H", "-u", "-a", "-m"], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  let max = 0;
  let total = 0;
  for (const m of r.stdout.matchAll(/skmem:\([^)]*\bo(\d+)/g)) {
    const o = Number(m[1]);
    total += o;
    if (o > max) max = o;
  }
  return { max, total };
}

// ------------------------------------------------------------------- rig

const script = fileURLToPath(import.meta.url);
const isBun = "Bun" in globalThis;
const runtimeName = isBun
  ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
  : `Deno ${Deno.version.deno}`;
const children = new Set<ChildProcess>();

function selfArgv(args: string[]): string[] {
  return isBun
    ? [process.execPath, script, ...args]
    : [process.execPath, "run", "-A", script, ...args];
}

function killChildren(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
}

/** Runs a command without blocking the event loop. */
function shAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(c);
    const out: string[] = [];
    const err: string[] = [];
    c.stdout!.setEncoding("utf8").on("data", (d: string) => out.push(d));
    c.stderr!.setEncoding("utf8").on("data", (d: string) => err.push(d));
    c.on("error", reject);
    c.on("close", (code) => {
      children.delete(c);
      if (code === 0) resolve(out.join(""));
      else reject(new Error(`${cmd} ${args.join(" ")}: ${err.join("")}`));
    });
  });
}

/** A namespace of the rig, able to run this script in a role inside. */
class Ns extends Netns {
  /** Runs a command inside the namespace without blocking the event loop. */
  runAsync(cmd: string, args: string[]): Promise<string> {
    return shAsync(...this.argv(cmd, args));
  }
  /** Starts this script in `role` inside the namespace. */
  spawnSelf(args: string[]): Child {
    const [cmd, ...rest] = selfArgv(args);
    const [nsenter, argv] = this.argv(cmd, rest);
    return new Child(spawn(nsenter, argv, { stdio: ["pipe", "pipe", "pipe"] }));
  }
}

/** A child speaking JSON lines on stdout. */
class Child {
  readonly messages: unknown[] = [];
  readonly stderr: string[] = [];
  #waiters: (() => void)[] = [];
  exited = false;
  constructor(readonly proc: ChildProcess) {
    children.add(proc);
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      try {
        this.messages.push(JSON.parse(line));
      } catch {
        this.stderr.push(line);
      }
      this.#wake();
    });
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr.push(d);
    });
    proc.on("close", () => {
      this.exited = true;
      children.delete(proc);
      this.#wake();
    });
  }
  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  /** Waits for the first message with `key` and returns its value, or,
   * for "*key", the whole message. */
  async next<T>(key: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find((m) =>
        typeof m === "object" && m !== null &&
        (key.startsWith("*") ? key.slice(1) in m : key in m)
      ) as Record<string, T> | undefined;
      if (hit !== undefined) return key.startsWith("*") ? hit as T : hit[key];
      if (this.exited || Date.now() > deadline) {
        throw new Error(
          `child gave no "${key}" (${this.exited ? "exited" : "timed out"}): ${
            this.stderr.join("").trim().slice(-2000)
          }`,
        );
      }
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  send(line: string): void {
    if (!this.exited) this.proc.stdin!.write(line + "\n");
  }
  async wait(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.exited && Date.now() < deadline) await sleep(10);
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

/** Listener namespace (veth vl) and upstream namespace (veth vu, a port of
 * bridge br0 with MLDv2 snooping and querier). */
class Rig {
  readonly down = new Ns();
  readonly up = new Ns();
  vlIndex = 0;
  upAt = 0;
  /** `reportIntervalMs`: vl's mldv2_unsolicited_report_interval, the
   * longest delay before a change is reported the second time. */
  async build(reportIntervalMs = 1000): Promise<void> {
    await this.down.ready();
    await this.up.ready();
    for (const ns of [this.down, this.up]) {
      ns.sysctl("net.ipv6.conf.all.accept_dad", 0);
      ns.sysctl("net.ipv6.conf.default.accept_dad", 0);
      ns.run("ip", ["link", "set", "lo", "up"]);
    }
    sh("ip", [
      "link",
      "add",
      "vl",
      "netns",
      this.down.pid,
      "type",
      "veth",
      "peer",
      "name",
      "vu",
      "netns",
      this.up.pid,
    ]);
    // Queries: one at start-up, answered within 0.2 s, then none for an
    // hour, so no general query lands in a measurement. The hash limit is
    // raised from 4096: a full mdb switches snooping off.
    this.up.run("ip", [
      ..."link add br0 type bridge mcast_snooping 1 mcast_querier 0".split(" "),
      ..."mcast_mld_version 2 mcast_hash_max 65536".split(" "),
      ..."mcast_query_response_interval 20 mcast_startup_query_count 1"
        .split(" "),
      ..."mcast_query_interval 360000 mcast_startup_query_interval 360000"
        .split(" "),
    ]);
    this.up.run("ip", ["link", "set", "vu", "master", "br0"]);
    this.down.run("ip", [
      "addr",
      "add",
      "2001:db8:4::a/64",
      "dev",
      "vl",
      "nodad",
    ]);
    this.up.run("ip", [
      "addr",
      "add",
      "2001:db8:4::1/64",
      "dev",
      "br0",
      "nodad",
    ]);
    this.down.sysctl(
      "net.ipv6.conf.vl.mldv2_unsolicited_report_interval",
      reportIntervalMs,
    );
    this.down.run("ip", ["link", "set", "vl", "up"]);
    this.up.run("ip", ["link", "set", "vu", "up"]);
    this.up.run("ip", ["link", "set", "br0", "up"]);
    const deadline = Date.now() + 5000;
    for (;;) {
      const info =
        JSON.parse(this.down.run("ip", ["-j", "link", "show", "vl"]))[
          0
        ];
      this.vlIndex = info.ifindex;
      if (info.operstate === "UP") break;
      if (Date.now() > deadline) throw new Error("vl did not come up");
      await sleep(10);
    }
    // The querier needs br0's link-local address to send from; turned on
    // before that, its one start-up query may be lost.
    for (;;) {
      const addrs = this.up.run("ip", ["-6", "addr", "show", "dev", "br0"]);
      if (/inet6 fe80::\S+ scope link(?! tentative)/.test(addrs)) break;
      if (Date.now() > deadline) throw new Error("br0 has no link-local");
      await sleep(10);
    }
    this.upAt = now();
  }
  /** Turns the bridge's querier on: it sends its start-up query now. */
  startQuerier(): void {
    this.up.run("ip", "link set br0 type bridge mcast_querier 1".split(" "));
  }
  remove(): void {
    this.down.remove();
    this.up.remove();
  }
}

// ------------------------------------------------------------- scenarios

interface Scenario {
  name: string;
  processes: number;
  rate: number; // host-wide joins/s; 0 = unpaced
  burst: number; // per process
  jitter: number;
  shared: boolean;
  batch: number; // joins per token
}

interface Result {
  sc: Scenario;
  joins: number;
  errors: Record<string, number>;
  firstErr?: string;
  reports: number;
  maxPer10: number;
  p99Per10: number;
  predicted?: number;
  maxJoinsPer10: number;
  maxNewPer10: number;
  sourcesCarried: number;
  byType: Record<string, number>;
  expected: number;
  onWire: number;
  inProc: number;
  mdbExpected: number;
  mdb: number;
  tJoined: number;
  tWire: number;
  tMdb?: number;
  mdbPollMs: number;
  queries: number;
  sent: number;
  captured: number;
  drops: number;
  rssKiB: number[][];
  spanMs: number;
}

const RECORD_TYPES: Record<number, string> = {
  1: "IS_IN",
  2: "IS_EX",
  3: "TO_IN",
  4: "TO_EX",
  5: "ALLOW",
  6: "BLOCK",
};

function windows(times: number[], from: number): number[] {
  if (times.length === 0) return [0];
  const last = Math.max(...times);
  const counts = new Array(Math.floor((last - from) / 10) + 1).fill(0);
  for (const t of times) counts[Math.max(0, Math.floor((t - from) / 10))]++;
  return counts;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
}

function mldReportsSent(rig: Rig): number {
  const text = rig.down.run("cat", ["/proc/net/dev_snmp6/vl"]);
  return Number(text.match(/Icmp6OutMLDv2Reports\s+(\d+)/)![1]);
}

async function runScenario(
  sc: Scenario,
  l: number,
  m: number,
  reportIntervalMs: number,
): Promise<Result> {
  const rig = new Rig();
  try {
    await rig.build(reportIntervalMs);
    const capture = rig.up.spawnSelf(["--role", "capture", "--ifname", "vu"]);
    const per = Math.ceil(l / sc.processes);
    const listeners: Child[] = [];
    for (let p = 0; p < sc.processes; p++) {
      const first = p * per;
      const count = Math.min(per, l - first);
      if (count <= 0) break;
      listeners.push(rig.down.spawnSelf([
        ...["--role", "listener", "--ifname", "vl"],
        ...["--first", String(first), "--count", String(count)],
        ...["--sources", String(m), "--rate", String(sc.rate / sc.processes)],
        ...["--burst", String(sc.burst), "--jitter", String(sc.jitter)],
        ...["--batch", String(sc.batch)],
        ...(sc.shared ? ["--shared"] : []),
      ]));
    }
    await capture.next("ready");
    for (const c of listeners) await c.next("ready");
    // Let the answer to the bridge's start-up query pass before measuring:
    // the host answers within 0.2 s (mcast_query_response_interval 20),
    // with every group it holds when its timer fires, ours included if the
    // joins had begun. (Link-up reports carry other groups only.)
    rig.startQuerier();
    let query = now();
    try {
      query = await capture.next<number>("query", 3000);
    } catch {
      console.error(`${sc.name}: no start-up query seen; going on`);
    }
    if (process.env.STORM_DEBUG) {
      console.error(`query ${(query - rig.upAt).toFixed(0)} ms after up`);
    }
    const settle = query + 300 - now();
    if (settle > 0) await sleep(settle);
    const sent0 = mldReportsSent(rig);

    const groups = new Set<string>();
    const expectedPairs = new Set<string>();
    const nGroups = sc.shared ? 1 : l;
    for (let i = 0; i < nGroups; i++) {
      const g = canon(groupOf(i));
      groups.add(g);
      for (let j = 0; j < m; j++) {
        expectedPairs.add(`${canon(sourceOf(j))}|${g}`);
      }
    }
    const mdbExpected = nGroups * Math.min(m, BRIDGE_SOURCES_PER_GROUP);

    const go = now();
    for (const c of listeners) c.send("go");
    // Poll the bridge's mdb until it holds every (S,G) it can.
    let tMdb: number | undefined;
    let mdb = 0;
    let lastPoll = go;
    let allDone = false;
    let wakePoller = () => {};
    let mdbRes = 0;
    let stopPolling = false;
    const poller = (async () => {
      while (!stopPolling) {
        const text = await rig.up.runAsync(
          "bridge",
          "-j -d mdb show dev br0".split(" "),
        );
        const t = now();
        mdb = countMdb(text, groups);
        if (mdb >= mdbExpected) {
          // Complete somewhere between the previous poll and this one.
          tMdb = t - go;
          mdbRes = t - lastPoll;
          return;
        }
        lastPoll = t;
        // Slow polls while joins run (they cost CPU the joins share),
        // fast ones once every listener is done.
        await new Promise<void>((r) => {
          wakePoller = r;
          setTimeout(r, allDone ? 20 : 250);
        });
      }
    })();
    const dones = [];
    for (const c of listeners) {
      dones.push(
        await c.next<{
          go: number;
          start: number;
          end: number;
          times: number[];
          errors: Record<string, number>;
          firstErr?: string;
          rssKiB: number[];
        }>("done", 600_000),
      );
    }
    allDone = true;
    wakePoller();
    const lastJoin = Math.max(...dones.map((d) => d.end));
    // The kernel repeats each change once more within 0..1 s
    // (mldv2_unsolicited_report_interval): wait for it.
    const wait = lastJoin + reportIntervalMs + 200 - now();
    if (wait > 0) await sleep(wait);
    const pollDeadline = now() + 3000;
    while (tMdb === undefined && now() < pollDeadline) await sleep(20);
    stopPolling = true;
    await poller;
    const sent = mldReportsSent(rig) - sent0;
    const mcf = rig.down.run("cat", ["/proc/net/mcfilter6"]);
    const inProc = mcf.split("\n").slice(1).filter((line) => {
      const f = line.trim().split(/\s+/);
      return f.length >= 6 && Number(f[0]) === rig.vlIndex &&
        Number(f[4]) > 0 &&
        groups.has(formatIPv6(hexBytes(f[2])));
    }).length;

    capture.send("stop");
    const capMsg = await capture.next<
      { packets: Packet[]; seen: number; drops: number }
    >("*packets");
    const cap = capMsg.packets;
    for (const c of listeners) c.send("exit");
    await Promise.all(listeners.map((c) => c.wait()));
    await capture.wait();

    if (process.env.STORM_DEBUG) {
      for (const p of cap) {
        console.error(
          (p.t - go).toFixed(1),
          p.icmp,
          p.out,
          p.records.map((r) => `${r.type}:${r.group}:${r.sources.length}`)
            .join(" "),
        );
      }
    }
    // Analysis: reports from the listener side after "go".
    const inWindow = cap.filter((p) => p.t >= go - 1);
    // Reports from the listener that carry the bench's groups.
    const reports = inWindow.filter((p) =>
      p.icmp === 143 && !p.out && p.records.some((r) => groups.has(r.group))
    );
    const queries = inWindow.filter((p) => p.icmp === 130).length;
    const perWindow = windows(reports.map((p) => p.t), go);
    const seen = new Map<string, number>();
    let carried = 0;
    const byType: Record<string, number> = {};
    for (const p of reports) {
      for (const r of p.records) {
        if (!groups.has(r.group)) continue;
        carried += r.sources.length;
        const name = RECORD_TYPES[r.type] ?? `type ${r.type}`;
        byType[name] = (byType[name] ?? 0) + r.sources.length;
        if (r.type === 1 || r.type === 5) { // IS_IN, ALLOW
          for (const s of r.sources) {
            const key = `${s}|${r.group}`;
            if (!seen.has(key)) seen.set(key, p.t);
          }
        }
      }
    }
    let onWire = 0;
    for (const key of expectedPairs) if (seen.has(key)) onWire++;
    const joinTimes = dones.flatMap((d) => d.times);
    const errors: Record<string, number> = {};
    for (const d of dones) {
      for (const [k, v] of Object.entries(d.errors)) {
        errors[k] = (errors[k] ?? 0) + v;
      }
    }
    const predicted = sc.rate > 0
      ? (listeners.length * sc.burst + sc.rate * 0.01) * sc.batch
      : undefined;
    return {
      sc,
      joins: joinTimes.length,
      errors,
      firstErr: dones.find((d) => d.firstErr)?.firstErr,
      reports: reports.length,
      maxPer10: Math.max(...perWindow),
      p99Per10: percentile(perWindow, 0.99),
      predicted,
      maxJoinsPer10: Math.max(...windows(joinTimes, go)),
      maxNewPer10: Math.max(...windows([...seen.values()], go)),
      sourcesCarried: carried,
      byType,
      expected: expectedPairs.size,
      onWire,
      inProc,
      mdbExpected,
      mdb,
      tJoined: lastJoin - go,
      tWire: seen.size > 0 ? Math.max(...seen.values()) - go : NaN,
      tMdb,
      mdbPollMs: mdbRes,
      queries,
      sent,
      captured: reports.length,
      drops: capMsg.drops,
      rssKiB: dones.map((d) => d.rssKiB),
      spanMs: reports.length > 0
        ? Math.max(...reports.map((p) => p.t)) - go
        : 0,
    };
  } finally {
    killChildren();
    rig.remove();
  }
}

function hexBytes(h: string): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function countMdb(text: string, groups: Set<string>): number {
  // Distinct pairs: a dump taken while entries change may repeat some.
  const pairs = new Set<string>();
  for (
    const dev of JSON.parse(text) as { mdb: { grp: string; src?: string }[] }[]
  ) {
    for (const e of dev.mdb) {
      if (e.src !== undefined && groups.has(canon(e.grp))) {
        pairs.add(`${e.src}|${e.grp}`);
      }
    }
  }
  return pairs.size;
}

// ---------------------------------------------------------------- report

/** CONFIG_HZ from /proc/config.gz, where the kernel exposes it. */
function kernelHz(): number | undefined {
  try {
    const config = gunzipSync(readFileSync("/proc/config.gz")).toString();
    const m = config.match(/^CONFIG_HZ=(\d+)$/m);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const f0 = (x: number | undefined) =>
  x === undefined || Number.isNaN(x) ? "-" : x.toFixed(0);

function printStorm(results: Result[], l: number, m: number): void {
  console.log(
    `\n### Storm: ${l} listener sockets x ${m} sources, one (S,G) per join\n`,
  );
  console.log(
    "| scenario | joins | MLDv2 reports | max / 10 ms | p99 / 10 ms | predicted joins / 10 ms (burst + R x 10 ms) | max joins / 10 ms (host) | max new (S,G) / 10 ms (wire) | all joined (ms) | all (S,G) on wire (ms) | mdb full (ms, - poll gap) | (S,G) on wire | in /proc | in mdb | errors |",
  );
  console.log("|---|" + "---:|".repeat(14));
  for (const r of results) {
    const errs = Object.entries(r.errors).map(([k, v]) => `${k} ${v}`).join(
      ", ",
    ) || "0";
    console.log(
      `| ${r.sc.name} | ${r.joins} | ${r.reports} | ${r.maxPer10} | ${r.p99Per10} | ${
        r.predicted === undefined ? "unbounded" : r.predicted.toFixed(0)
      } | ${r.maxJoinsPer10} | ${r.maxNewPer10} | ${f0(r.tJoined)} | ${
        f0(r.tWire)
      } | ${
        r.tMdb === undefined ? "never" : `${f0(r.tMdb)} (-${f0(r.mdbPollMs)})`
      } | ${r.onWire}/${r.expected} | ${r.inProc}/${r.expected} | ${r.mdb}/${r.mdbExpected} | ${errs} |`,
    );
  }
  console.log(
    "\n| scenario | sources carried in records (by record type) | reports sent (snmp6) | reports captured | capture drops | queries seen | last report (ms) | listener RSS KiB (start, sockets open, joined) |",
  );
  console.log("|---|" + "---:|".repeat(7));
  for (const r of results) {
    console.log(
      `| ${r.sc.name} | ${r.sourcesCarried} (${
        Object.entries(r.byType).map(([k, v]) => `${k} ${v}`).join(", ")
      }) | ${r.sent} | ${r.captured} | ${r.drops} | ${r.queries} | ${
        f0(r.spanMs)
      } | ${r.rssKiB.map((x) => x.join(", ")).join("; ")} |`,
    );
  }
  for (const r of results) {
    if (r.firstErr) console.log(`\n${r.sc.name}: first error: ${r.firstErr}`);
  }
}

interface EdgesOut {
  defaultOptmem: number;
  msf: {
    joined: number;
    code?: string;
    message?: string;
    secondSocket: string;
    inc: number;
  };
  optmem: {
    limit: number;
    perGroup: number;
    groups: number;
    pairs: number;
    code?: string;
    message?: string;
    omemPeak?: { max: number; total: number };
    spread: number;
    sockets: number;
    spreadErr?: string;
  }[];
  rss: {
    l: number;
    m: number;
    rss0: number;
    rss1: number;
    rss2: number;
    ms: number;
    errors: number;
    omem?: { max: number; total: number };
    inc: number;
  };
  rss3: number;
}

function printEdges(e: EdgesOut): void {
  console.log("\n### Scale edges\n");
  console.log(
    `Sources per socket and group: ${e.msf.joined} joined, then ${e.msf.code}; a second socket took the next ones (${e.msf.secondSocket}); /proc/net/mcfilter6 then listed ${e.msf.inc} (S,G) of the group.\n`,
  );
  console.log(`> ${e.msf.message}\n`);
  console.log(
    "| optmem_max (B) | sources per group | groups on one socket | (S,G) on one socket | then | socket option memory (ss -m o, B) | way around: (S,G) on more sockets |",
  );
  console.log("|---:|---:|---:|---:|---|---:|---|");
  for (const o of e.optmem) {
    console.log(
      `| ${o.limit} | ${o.perGroup} | ${o.groups} | ${o.pairs} | ${
        o.code ?? "-"
      } | ${o.omemPeak?.max ?? "-"} | ${o.spread} on ${o.sockets} sockets${
        o.spreadErr ? ` (then ${o.spreadErr})` : ", no error"
      } |`,
    );
  }
  for (const o of e.optmem) {
    if (o.message) {
      console.log(
        `\n> optmem_max ${o.limit}, ${o.perGroup}/group: ${o.message}`,
      );
    }
  }
  const r = e.rss;
  const pairs = r.l * r.m;
  console.log(
    `\nRSS of one process for ${r.l} sockets x ${r.m} sources (${pairs} (S,G), ${r.errors} errors, ${r.inc} rows in /proc/net/mcfilter6, joined in ${
      r.ms.toFixed(0)
    } ms):\n`,
  );
  console.log(
    "| VmRSS (KiB) | before | sockets open | all joined | after close |",
  );
  console.log("|---|---:|---:|---:|---:|");
  console.log(
    `| process | ${r.rss0} | ${r.rss1} | ${r.rss2} | ${e.rss3} |`,
  );
  console.log(
    `\nJoins added ${r.rss2 - r.rss1} KiB of RSS (${
      ((r.rss2 - r.rss1) * 1024 / pairs).toFixed(0)
    } B per (S,G)); opening the sockets ${
      r.rss1 - r.rss0
    } KiB. Kernel option memory (ss -m): ${
      r.omem
        ? `${r.omem.total} B in total, ${r.omem.max} B on the fullest socket`
        : "ss unavailable"
    }.`,
  );
}

// ------------------------------------------------------------------- main

async function main(): Promise<void> {
  const quick = opt.quick;
  const l = num(opt.listeners, quick ? 5 : 200);
  const m = num(opt.sources, quick ? 5 : 50);
  const rate = num(opt.rate, 100);
  const fastRate = num(opt["fast-rate"], 10 * rate);
  const batch = num(opt.batch, Math.round(fastRate / 10));
  // --quick shortens the kernel's repeat delay (default 1000 ms) so that a
  // scenario need not wait a second for the repeat.
  const reportInterval = num(opt["report-interval"], quick ? 200 : 1000);
  const processes = num(opt.processes, quick ? 2 : 4);
  const jitterMs = num(opt.jitter, quick ? 100 : 2000);
  if (m > 64) {
    console.error(
      `--sources ${m}: above 64 a socket's join fails (ENOBUFS); see the scale edges`,
    );
  }
  const exitNow = (code: number) => {
    killChildren();
    process.exit(code);
  };
  process.on("exit", killChildren);
  process.on("SIGINT", () => exitNow(130));
  process.on("SIGTERM", () => exitNow(143));

  console.log(
    `## netjoin storm bench, ${
      new Date().toISOString()
    }\n\n${runtimeName}, Linux ${release()}, ${cpus().length} CPUs (${
      cpus()[0]?.model ?? "?"
    }); L=${l} M=${m} R=${rate}/s P=${processes} jitter=${jitterMs} ms, mldv2_unsolicited_report_interval ${reportInterval} ms${
      quick ? " (--quick)" : ""
    }`,
  );
  const hz = kernelHz();
  console.log(
    hz === undefined
      ? "CONFIG_HZ unknown (no /proc/config.gz)"
      : `CONFIG_HZ=${hz}: the kernel sends a report 2 jiffies (${
        2000 / hz
      } ms) after the last membership change; each change postpones it`,
  );
  if (!opt["edges-only"]) {
    const burstFor = (r: number) => num(opt.burst, Math.max(1, r / 100));
    const scenarios: Scenario[] = [
      {
        name: "cold, no pacing",
        processes: 1,
        rate: 0,
        burst: 1,
        jitter: 0,
        shared: false,
        batch: 1,
      },
      ...[rate, fastRate].filter((r) => r > 0).map((r) => ({
        name: `limiter ${r}/s`,
        processes: 1,
        rate: r,
        burst: burstFor(r),
        jitter: 0,
        shared: false,
        batch: 1,
      })),
      ...(fastRate > 0 && batch > 1
        ? [{
          name: `limiter ${fastRate / batch}/s, ${batch} joins per token`,
          processes: 1,
          rate: fastRate / batch,
          burst: 1,
          jitter: 0,
          shared: false,
          batch,
        }]
        : []),
      {
        name: `jitter ${jitterMs} ms + limiter ${
          rate / processes
        }/s, ${processes} processes`,
        processes,
        rate,
        burst: burstFor(rate / processes),
        jitter: jitterMs,
        shared: false,
        batch: 1,
      },
      {
        name: "cold, every socket the same M (S,G)",
        processes: 1,
        rate: 0,
        burst: 1,
        jitter: 0,
        shared: true,
        batch: 1,
      },
    ];
    const results: Result[] = [];
    for (const sc of scenarios) {
      const t0 = now();
      results.push(await runScenario(sc, l, m, reportInterval));
      console.error(`${sc.name}: ${((now() - t0) / 1000).toFixed(1)} s`);
    }
    printStorm(results, l, m);
    // Exit 1 when a membership went missing (CI runs --quick for this).
    const lost = results.filter((r) =>
      r.onWire < r.expected || r.inProc < r.expected ||
      r.mdb < r.mdbExpected || r.drops > 0
    );
    if (lost.length > 0) {
      console.log(
        `\nstorm: (S,G) missing in ${lost.map((r) => r.sc.name).join("; ")}`,
      );
      process.exitCode = 1;
    } else {
      console.log("\nstorm: every (S,G) in place in every scenario");
    }
  }
  if (!opt["no-edges"]) {
    const rig = new Rig();
    try {
      await rig.build();
      const c = rig.down.spawnSelf([
        ...["--role", "edges", "--ifname", "vl"],
        ...["--listeners", String(l), "--sources", String(m)],
      ]);
      printEdges(await c.next<EdgesOut>("*defaultOptmem", 120_000));
      await c.wait();
    } finally {
      killChildren();
      rig.remove();
    }
  }
}

switch (opt.role) {
  case "capture":
    captureMain(opt.ifname!);
    break;
  case "listener":
    listenerMain();
    break;
  case "edges":
    edgesMain();
    break;
  default:
    await main();
    process.exit(process.exitCode ?? 0);
}
