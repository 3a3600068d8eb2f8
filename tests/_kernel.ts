/**
 * Test rig for the real kernel: pairs of network namespaces joined by a veth
 * pair, entered from the test's own thread with `setns(2)`, and parsers for
 * /proc/net/igmp6 and /proc/net/mcfilter6 read inside a namespace.
 *
 * The namespaces are tests/_netns.ts's: held by `unshare -n sleep`
 * processes, so the rig works as root and inside `unshare -rn`. Where
 * namespaces cannot be made, kernel tests skip with the reason; under
 * `CI=true` that is a failure instead.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { libc, openLibcSymbols } from "../ffi/mod.ts";
import {
  type Igmp6Row,
  type Mcfilter6Row,
  parseIgmp6,
  parseMcfilter6,
} from "../_proc.ts";
import { Netns, sh } from "./_netns.ts";

const CLONE_NEWNET = 0x40000000;
const O_RDONLY_CLOEXEC = 0o2000000;

const NS_SYMBOLS = {
  // int open(const char *pathname, int flags);
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // int setns(int fd, int nstype);
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
} as const;

let nsLib: ReturnType<typeof openLibcSymbols<typeof NS_SYMBOLS>> | undefined;
function ns() {
  return nsLib ??= openLibcSymbols(NS_SYMBOLS);
}

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

let availability: string | undefined | null = null;
let saidWhy = false;

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelUnavailable(): string | undefined {
  if (availability !== null) return availability;
  availability = undefined;
  for (const [cmd, args] of [["ip", ["-V"]], ["nsenter", ["-V"]]] as const) {
    const r = spawnSync(cmd, [...args], { encoding: "utf8" });
    if (r.error) {
      availability = `kernel tests need \`${cmd}\` (${r.error.message})`;
      return availability;
    }
  }
  const r = spawnSync("unshare", ["-n", "true"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    availability =
      "kernel tests need root or `unshare -rn` to make network namespaces (" +
      (r.error?.message ?? r.stderr.trim()) + ")";
  }
  return availability;
}

/**
 * A test that needs the kernel: skipped with the reason where namespaces
 * cannot be made, failed instead under CI=true.
 */
export function kernelTest(
  name: string,
  fn: () => void | Promise<void>,
): void {
  const reason = kernelUnavailable();
  if (reason === undefined) {
    test(name, fn);
  } else if (process.env.CI === "true") {
    test(name, () => {
      throw new Error(`Cannot run under CI=true: ${reason}`);
    });
  } else {
    if (!saidWhy) console.error(`kernel tests skipped: ${reason}`);
    saidWhy = true;
    test(name, { skip: reason }, () => {});
  }
}

/** One end of a veth pair, in its own namespace. */
export class Host extends Netns {
  /** The interface index of the veth end inside the namespace. */
  ifindex = 0;
  constructor(
    /** The veth interface name inside the namespace. */
    readonly ifname: string,
  ) {
    super();
  }

  /** Runs `fn` with this thread inside the namespace (sockets made there
   * belong to it). Synchronous only. */
  enter<T>(fn: () => T): T {
    const lib = ns();
    const home = lib.symbols.open(
      cString("/proc/thread-self/ns/net"),
      O_RDONLY_CLOEXEC,
    );
    const there = lib.symbols.open(
      cString(this.nsPath),
      O_RDONLY_CLOEXEC,
    );
    if (home < 0 || there < 0) throw new Error("Could not open namespaces");
    try {
      if (lib.symbols.setns(there, CLONE_NEWNET) !== 0) {
        throw new Error(
          `setns into ${this.nsPath} failed: errno ${lib.errno()}`,
        );
      }
      try {
        return fn();
      } finally {
        if (lib.symbols.setns(home, CLONE_NEWNET) !== 0) {
          // The thread must not stay in a test namespace: stop everything.
          console.error(`setns back failed: errno ${lib.errno()}`);
          process.exit(70);
        }
      }
    } finally {
      lib.symbols.close(home);
      lib.symbols.close(there);
    }
  }

  /** Reads a /proc/net file as the namespace sees it. */
  procNet(file: string): string {
    return this.enter(() =>
      readFileSync(`/proc/thread-self/net/${file}`, "utf8")
    );
  }

  /** Rows of /proc/net/igmp6 for this host's veth (keyed on ifindex). */
  igmp6(): Igmp6Row[] {
    return parseIgmp6(this.procNet("igmp6"))
      .filter((r) => r.ifindex === this.ifindex);
  }

  /** The users count of `groupHex` in igmp6, 0 when absent. */
  users(groupHex: string): number {
    return this.igmp6().find((r) => r.group === groupHex)?.users ?? 0;
  }

  /** Rows of /proc/net/mcfilter6 for this host's veth. */
  mcfilter6(): Mcfilter6Row[] {
    return parseMcfilter6(this.procNet("mcfilter6"))
      .filter((r) => r.ifindex === this.ifindex);
  }

  /** mcfilter6 rows of one group as "source:INC:EXC", sorted. */
  filter(groupHex: string): string[] {
    return this.mcfilter6().filter((r) => r.group === groupHex)
      .map((r) => `${r.source}:${r.inc}:${r.exc}`).sort();
  }
}

/** Addresses on the pair: A is the listener, B holds two sources. */
export const ADDR = {
  a: "2001:db8:6a::a",
  s1: "2001:db8:6a::11",
  s2: "2001:db8:6a::12",
} as const;

/**
 * Makes two namespaces joined by a veth pair, ready for traffic, runs `fn`,
 * and deletes both namespaces whatever happens.
 */
export async function withPair<T>(
  fn: (a: Host, b: Host) => T | Promise<T>,
): Promise<T> {
  const a = new Host("nja");
  const b = new Host("njb");
  try {
    await a.ready();
    await b.ready();
    for (const h of [a, b]) {
      // No DAD: addresses are usable at once and the link carries traffic
      // as soon as it is up.
      h.sysctl("net.ipv6.conf.all.accept_dad", 0);
      h.sysctl("net.ipv6.conf.default.accept_dad", 0);
    }
    sh("ip", [
      "link",
      "add",
      a.ifname,
      "netns",
      a.pid,
      "type",
      "veth",
      "peer",
      "name",
      b.ifname,
      "netns",
      b.pid,
    ]);
    for (
      const [h, address] of [[a, ADDR.a], [b, ADDR.s1], [b, ADDR.s2]] as const
    ) {
      h.run("ip", ["addr", "add", `${address}/64`, "dev", h.ifname, "nodad"]);
    }
    for (const h of [a, b]) {
      h.run("ip", ["link", "set", "lo", "up"]);
      h.run("ip", ["link", "set", h.ifname, "up"]);
    }
    for (const h of [a, b]) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const info = JSON.parse(
          h.run("ip", ["-j", "link", "show", "dev", h.ifname]),
        )[0];
        h.ifindex = info.ifindex;
        if (info.operstate === "UP") break;
        if (Date.now() > deadline) {
          throw new Error(`${h.ifname} did not come up`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return await fn(a, b);
  } finally {
    a.remove();
    b.remove();
  }
}

/** An IPv6 address as /proc writes it: 32 hex digits, no colons. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The socket's filter for a group as Linux reports it (getsockopt
 * MCAST_MSFILTER): "EXCLUDE{}" for any-source, "INCLUDE{n}" with the source
 * count, or "none" when the socket holds no membership of the group.
 */
export function filterMode(
  fd: number,
  ifindex: number,
  group: Uint8Array,
): string {
  const buf = new Uint8Array(272); // struct group_filter, Linux x86_64
  const view = new DataView(buf.buffer);
  view.setUint32(0, ifindex, true);
  view.setUint16(8, 10, true); // AF_INET6
  buf.set(group, 16);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 272, true);
  if (libc().symbols.getsockopt(fd, 41, 48, buf, len) !== 0) return "none";
  const mode = view.getUint32(136, true) === 1 ? "INCLUDE" : "EXCLUDE";
  const n = view.getUint32(140, true);
  return mode === "EXCLUDE" && n === 0 ? "EXCLUDE{}" : `${mode}{${n}}`;
}

/** An any-source join made without netjoin, as other code on the fd would. */
export function rawJoinAnySource(
  fd: number,
  ifindex: number,
  group: Uint8Array,
): void {
  const mreq = new Uint8Array(20);
  mreq.set(group, 0);
  new DataView(mreq.buffer).setUint32(16, ifindex, true);
  if (libc().symbols.setsockopt(fd, 41, 20, mreq, 20) !== 0) {
    throw new Error("raw IPV6_JOIN_GROUP failed");
  }
}
