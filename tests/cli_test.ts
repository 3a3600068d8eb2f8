// The `netjoin` command as a child process (Deno: `run -A cli.ts`, Bun:
// `cli.ts`), run inside test namespaces through nsenter: usage errors and
// help, a listen/send pair with source filtering, --json, timeouts, Ctrl-C,
// and interop with tools no one here wrote: mcfirst (ssmping), Python's
// socket module, socat. `doctor` runs on the host's own interface too.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { parseIPv6 } from "../_address.ts";
import { estimatePairs, needsScope } from "../_cli.ts";
import { defaultMulticastInterface } from "../_proc.ts";
import { ADDR, hex, Host, kernelTest, withPair } from "./_kernel.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const isDeno = "Deno" in globalThis;
const G = "ff3e::4a:c1";
const G2 = "ff3e::4a:c2";
const CI = process.env.CI === "true";

/** The argv that runs the CLI with `args` in this runtime. */
function cliArgv(args: string[]): [string, string[]] {
  return isDeno
    ? [process.execPath, ["run", "-A", "--no-prompt", CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
}

interface Result {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A running child process: its output so far and its end. */
class Child {
  stdout = "";
  stderr = "";
  readonly done: Promise<Result>;
  readonly kill: (signal: NodeJS.Signals) => void;
  constructor(cmd: string, args: string[], timeoutMs = 20_000) {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (c: string) => this.stdout += c);
    child.stderr.on("data", (c: string) => this.stderr += c);
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    // process.kill, not child.kill: after child.kill(signal) Deno's
    // node:child_process reports the signal instead of the exit code.
    this.kill = (signal) => process.kill(child.pid!, signal);
    this.done = new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** Waits until stderr matches `pattern`; fails when the child ends first. */
  async waitErr(pattern: RegExp, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    let ended = false;
    this.done.then(() => ended = true, () => ended = true);
    while (!pattern.test(this.stderr)) {
      if (ended || Date.now() > deadline) {
        throw new Error(
          `no ${pattern} on stderr; stdout: ${this.stdout} stderr: ${this.stderr}`,
        );
      }
      await sleep(10);
    }
  }
}

/** Starts the CLI, inside `host`'s namespace when given. */
function start(host: Host | undefined, args: string[]): Child {
  const [cmd, argv] = cliArgv(args);
  const [run, runArgs] = host ? host.argv(cmd, argv) : [cmd, argv];
  return new Child(run, runArgs);
}

/** Runs the CLI to its end. */
function cli(host: Host | undefined, args: string[]): Promise<Result> {
  return start(host, args).done;
}

function show(r: Result): string {
  return `exit ${r.code} signal ${r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Whether a command exists (runs `sh -c 'command -v NAME'`). */
function has(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/**
 * A kernel test that needs `tools`: skipped when one is missing, failed
 * instead under CI=true.
 */
function toolTest(
  name: string,
  tools: string[],
  fn: () => Promise<void>,
): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return kernelTest(name, fn);
  const reason = `needs ${missing.join(", ")} (apt-get install ${
    missing.map((t) => t === "mcfirst" ? "ssmping" : t).join(" ")
  })`;
  if (CI) {
    test(name, () => {
      throw new Error(`Cannot run under CI=true: ${reason}`);
    });
  } else {
    console.error(`${name}: skipped, ${reason}`);
    test(name, { skip: reason }, () => {});
  }
}

/** Listens in `a`; resolves once joined, with the child. */
async function listenIn(a: Host, args: string[]): Promise<Child> {
  const child = start(a, ["listen", "-i", a.ifname, ...args]);
  await child.waitErr(/listening on port/);
  return child;
}

/** netjoin send from `source` in `b`, `count` datagrams. */
async function sendFrom(
  b: Host,
  source: string,
  port: number,
  count: number,
  group = G,
): Promise<void> {
  const r = await cli(b, [
    "send",
    "-i",
    b.ifname,
    "-g",
    group,
    "-p",
    String(port),
    "--from",
    source,
    "-c",
    String(count),
    "--interval",
    "20",
  ]);
  assert.equal(r.code, 0, show(r));
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter((l) => l !== "").map((l) =>
    JSON.parse(l)
  );
}

// ---------------------------------------------------------------------------
// Usage, help and errors (no namespace needed)

test("--help on each command prints its usage and exits 0", async () => {
  for (const command of ["listen", "send", "doctor"]) {
    const r = await cli(undefined, [command, "--help"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^Usage: netjoin ${command}`));
    assert.equal(r.stderr, "");
  }
  const r = await cli(undefined, ["--help"]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /netjoin listen .*\n.*netjoin send .*\n.*doctor/);
});

test("usage errors exit 2 and say what is wrong", async () => {
  const cases: [string[], RegExp][] = [
    [[], /Usage:/],
    [["join"], /unknown command "join"/],
    [["listen", "-i", "lo"], /netjoin listen: -g GROUP is required/],
    [["listen", "-g", "ff3e::1"], /-i IFACE is required/],
    [["listen", "-i", "lo", "-g", "ff3e::1", "--bogus"], /'--bogus'/],
    [["listen", "-i", "lo", "-g", "ff3e::1", "extra"], /extra/],
    [
      ["listen", "-i", "lo", "-g", "foo::bar"],
      /-g: .*"foo::bar" is not an IPv6 address/,
    ],
    [
      ["listen", "-i", "lo", "-g", "2001:db8::1"],
      /"2001:db8::1" is not multicast/,
    ],
    [
      ["listen", "-i", "lo", "-g", "ff3e::1", "-s", "ff3e::2"],
      /-s: .*"ff3e::2" is a multicast address/,
    ],
    [
      ["listen", "-i", "lo", "-g", "ff3e::1", "-p", "70000"],
      /-p must be an integer from 1 to 65535, got "70000"/,
    ],
    [
      ["listen", "-i", "lo", "-g", "ff3e::1", "-c", "two"],
      /-c must be an integer .* got "two"/,
    ],
    [
      ["listen", "-i", "lo", "-g", "ff3e::1", "--timeout=-1"],
      /-t must be a number from 0/,
    ],
    [
      ["send", "-i", "lo", "-g", "ff3e::1", "-g", "ff3e::2"],
      /send takes one -g GROUP/,
    ],
    [
      ["send", "-i", "lo", "-g", "ff3e::1", "--hops", "256"],
      /--hops must be an integer from 0 to 255/,
    ],
    [
      ["send", "-i", "lo", "-g", "ff3e::1", "--from", "10.0.0.1"],
      /--from: .*"10.0.0.1" is an IPv4 address/,
    ],
    [["doctor", "-x"], /'-x'/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(undefined, args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${show(r)}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
  }
});

test("an unknown interface is a usage error listing the interfaces", async () => {
  const r = await cli(undefined, ["listen", "-i", "nosuch0", "-g", G]);
  assert.equal(r.code, 2, show(r));
  assert.match(
    r.stderr,
    /netjoin listen: -i: No network interface is named "nosuch0".*Interfaces here: .*\blo\b/,
  );
  assert.equal(r.stderr.trim().split("\n").length, 2, r.stderr); // + "Try"
});

test("doctor's estimate matches the kernel's measured limits", () => {
  // Measured per socket (see the kernel notes): 546 single-source groups at
  // optmem_max 131072, 85 at 20480.
  assert.equal(estimatePairs(131072, 1, 64), 546);
  assert.equal(estimatePairs(20480, 1, 64), 85);
  assert.equal(estimatePairs(131072, 64, 64), 109 * 64);
  assert.equal(estimatePairs(131072, 100, 64), 109 * 64, "capped by msf");
});

test("link-scoped addresses need a scope id to bind", () => {
  for (const a of ["fe80::1", "febf::1", "ff02::1", "ff12::1", "ff01::1"]) {
    assert.equal(needsScope(parseIPv6(a)!), true, a);
  }
  for (const a of ["fd00::2", "2001:db8::1", "fec0::1", "ff3e::1", "ff05::1"]) {
    assert.equal(needsScope(parseIPv6(a)!), false, a);
  }
});

// ---------------------------------------------------------------------------
// listen and send between two namespaces

kernelTest(
  "listen -s S1 --json counts netjoin send's datagrams from S1, none from S2",
  () =>
    withPair(async (a, b) => {
      const listener = await listenIn(a, [
        "-g",
        G,
        "-s",
        ADDR.s1,
        "-p",
        "6001",
        "-c",
        "4",
        "-t",
        "3",
        "--json",
      ]);
      assert.deepEqual(a.filter(hex(parseIPv6(G)!)), [
        `${hex(parseIPv6(ADDR.s1)!)}:1:0`,
      ]);
      await sendFrom(b, ADDR.s2, 6001, 3);
      await sendFrom(b, ADDR.s1, 6001, 3);
      const r = await listener.done;
      // 3 of 4: S2's three were filtered, so -t ran out first.
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /timed out after 3 s with 3 of 4 datagrams/);
      const lines = jsonLines(r.stdout);
      assert.equal(lines.length, 3, r.stdout);
      for (const line of lines) {
        assert.equal(line.source, ADDR.s1);
        assert.equal(line.group, G);
        assert.equal(typeof line.port, "number");
        assert.ok((line.port as number) > 0);
        assert.equal(line.bytes, "netjoin 1\n".length);
        assert.match(line.time as string, /^\d{4}-\d\d-\d\dT/);
      }
      assert.deepEqual(a.filter(hex(parseIPv6(G)!)), [], "left on exit");
    }),
);

kernelTest(
  "listen without -s takes every source; -g repeats; --rate and --jitter pace",
  () =>
    withPair(async (a, b) => {
      const listener = await listenIn(a, [
        "-g",
        G,
        "-g",
        G2,
        "-p",
        "6002",
        "-c",
        "3",
        "-t",
        "10",
        "--rate",
        "5",
        "--jitter",
        "100",
      ]);
      assert.match(
        listener.stderr,
        /joined \(\*, ff3e::4a:c1\) \(\*, ff3e::4a:c2\)/,
      );
      await sendFrom(b, ADDR.s1, 6002, 1, G);
      await sendFrom(b, ADDR.s2, 6002, 1, G);
      await sendFrom(b, ADDR.s2, 6002, 1, G2);
      const r = await listener.done;
      assert.equal(r.code, 0, show(r));
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 3, r.stdout);
      const pattern =
        /^\[([0-9a-f:]+)\]:\d+ -> \[([0-9a-f:]+)\]:6002 10 bytes$/;
      const seen = lines.map((l) => {
        const m = l.match(pattern);
        assert.ok(m, l);
        return `${m[1]} ${m[2]}`;
      });
      assert.deepEqual(seen.sort(), [
        `${ADDR.s1} ${G}`,
        `${ADDR.s2} ${G}`,
        `${ADDR.s2} ${G2}`,
      ]);
    }),
);

kernelTest(
  "listen -c with nothing arriving exits 1 when -t runs out",
  () =>
    withPair(async (a) => {
      const t0 = performance.now();
      const r = await cli(a, [
        "listen",
        "-i",
        a.ifname,
        "-g",
        G,
        "-s",
        ADDR.s1,
        "-c",
        "1",
        "-t",
        "0.5",
      ]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /timed out after 0.5 s with 0 of 1 datagrams/);
      assert.equal(r.stdout, "");
      assert.ok(performance.now() - t0 >= 500);
    }),
);

kernelTest(
  "Ctrl-C (SIGINT) leaves the groups, closes and exits 130",
  () =>
    withPair(async (a) => {
      const listener = await listenIn(a, ["-g", G, "-s", ADDR.s1, "-g", G2]);
      assert.equal(a.users(hex(parseIPv6(G)!)), 1);
      assert.equal(a.users(hex(parseIPv6(G2)!)), 1);
      listener.kill("SIGINT");
      const r = await listener.done;
      assert.equal(r.code, 130, show(r));
      assert.match(r.stderr, /SIGINT: left the groups after 0 datagrams/);
      assert.equal(a.users(hex(parseIPv6(G)!)), 0);
      assert.equal(a.users(hex(parseIPv6(G2)!)), 0);
    }),
);

kernelTest(
  "a NetjoinError prints on one line with its hint and exits 1",
  () =>
    withPair(async (a) => {
      // 65 sources on one socket and group: the kernel's limit is 64.
      const sources = Array.from(
        { length: 65 },
        (_, i) => ["-s", `2001:db8:77::${(i + 1).toString(16)}`],
      ).flat();
      const r = await cli(a, ["listen", "-i", a.ifname, "-g", G, ...sources]);
      assert.equal(r.code, 1, show(r));
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0],
        /^netjoin listen: Could not join source 2001:db8:77::41 of group ff3e::4a:c1 .* ENOBUFS\. .*mld_max_msf/,
      );
      assert.equal(a.users(hex(parseIPv6(G)!)), 0, "the 64 joined were left");

      const s = await cli(a, [
        "send",
        "-i",
        a.ifname,
        "-g",
        G,
        "--from",
        ADDR.s1, // b's address, not a's
      ]);
      assert.equal(s.code, 1, show(s));
      assert.match(
        s.stderr,
        /^netjoin send: .*EADDRNOTAVAIL\. --from 2001:db8:6a::11 is not an address of this host/,
      );
    }),
);

// ---------------------------------------------------------------------------
// Interop with tools no one here wrote

toolTest(
  "mcfirst (ssmping) joins (S1,G) and receives what netjoin send sends",
  ["mcfirst"],
  () =>
    withPair(async (a, b) => {
      const mcfirst = new Child(...a.argv("mcfirst", [
        "-6",
        "-I",
        a.ifname,
        "-c",
        "3",
        "-t",
        "10",
        ADDR.s1,
        G,
        "6003",
      ]));
      // mcfirst says nothing until the first datagram: watch its join.
      const key = hex(parseIPv6(G)!);
      const deadline = Date.now() + 5000;
      while (a.filter(key).length === 0) {
        assert.ok(
          Date.now() < deadline,
          `mcfirst did not join: ${mcfirst.stderr}`,
        );
        await sleep(20);
      }
      assert.deepEqual(a.filter(key), [`${hex(parseIPv6(ADDR.s1)!)}:1:0`]);
      await sendFrom(b, ADDR.s2, 6003, 3);
      await sendFrom(b, ADDR.s1, 6003, 3);
      const r = await mcfirst.done;
      assert.equal(r.code, 0, show(r));
      assert.match(
        r.stdout,
        /mcfirst joined \(S,G\) = \(2001:db8:6a::11,ff3e::4a:c1\)/,
      );
      const received = r.stdout.match(/^Received 10 bytes from \S+/gm) ?? [];
      assert.deepEqual(
        received,
        Array(3).fill(`Received 10 bytes from ${ADDR.s1}`),
      );
      assert.match(r.stdout, /30 bytes \(payload\) and 3 packets received/);
    }),
);

const PYTHON_SENDER = `
import socket, sys
group, port, ifname = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for spec in sys.argv[4:]:
    source, count = spec.split("/")
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF,
                 socket.if_nametoindex(ifname))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
    for i in range(int(count)):
        s.sendto(("python %s %d" % (source, i)).encode(), (group, port))
    s.close()
`;

toolTest(
  "listen -s S1 counts what Python's socket module sends from S1, not S2",
  ["python3"],
  () =>
    withPair(async (a, b) => {
      const listener = await listenIn(a, [
        "-g",
        G,
        "-s",
        ADDR.s1,
        "-p",
        "6004",
        "-c",
        "4",
        "-t",
        "2",
        "--json",
      ]);
      b.run("python3", [
        "-c",
        PYTHON_SENDER,
        G,
        "6004",
        b.ifname,
        `${ADDR.s2}/3`,
        `${ADDR.s1}/3`,
        `${ADDR.s2}/3`,
      ]);
      const r = await listener.done;
      assert.equal(r.code, 1, show(r)); // 3 of 4 arrived
      const lines = jsonLines(r.stdout);
      assert.deepEqual(lines.map((l) => l.source), [ADDR.s1, ADDR.s1, ADDR.s1]);
    }),
);

toolTest(
  "listen -s S1 -c 2 counts what socat sends from S1 and exits 0",
  ["socat"],
  () =>
    withPair(async (a, b) => {
      const listener = await listenIn(a, [
        "-g",
        G,
        "-s",
        ADDR.s1,
        "-p",
        "6005",
        "-c",
        "2",
        "-t",
        "10",
        "--json",
      ]);
      for (const source of [ADDR.s2, ADDR.s2, ADDR.s1, ADDR.s2, ADDR.s1]) {
        b.run("sh", [
          "-c",
          `echo socat from ${source} | socat -u STDIN 'UDP6-SENDTO:[${G}]:6005,bind=[${source}]'`,
        ]);
      }
      const r = await listener.done;
      assert.equal(r.code, 0, show(r));
      const lines = jsonLines(r.stdout);
      assert.deepEqual(lines.map((l) => l.source), [ADDR.s1, ADDR.s1]);
      assert.deepEqual(lines.map((l) => l.bytes), [
        `socat from ${ADDR.s1}\n`.length,
        `socat from ${ADDR.s1}\n`.length,
      ]);
    }),
);

// ---------------------------------------------------------------------------
// doctor

kernelTest(
  "doctor passes in a namespace with two global addresses",
  () =>
    withPair(async (_a, b) => {
      const r = await cli(b, ["doctor"]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /interface njb \(index \d+\), up, multicast/);
      assert.match(r.stdout, /\/proc\/net\/mcfilter6 .* 1 0\n/);
      assert.match(
        r.stdout,
        /\(S,G\) socket: 3 from S, 0 from 2001:db8:6a::1[12]/,
      );
      assert.match(r.stdout, /mld_max_msf = absent in this namespace/);
      assert.match(r.stdout, /OK: source filtering works on njb/);
    }),
);

kernelTest(
  "doctor without a multicast interface says so and exits 1",
  async () => {
    const empty = new Host("none");
    try {
      await empty.ready();
      const r = await cli(empty, ["doctor"]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stdout, /FAILED: no IPv6 multicast interface/);
    } finally {
      empty.remove();
    }
  },
);

/** Why doctor cannot run on this host's own network, or undefined. */
function noHostMulticast(): string | undefined {
  let route: string;
  try {
    route = readFileSync("/proc/net/ipv6_route", "utf8");
  } catch {
    return "no IPv6 on this host (/proc/net/ipv6_route unreadable)";
  }
  return defaultMulticastInterface(route) === undefined
    ? "this host has no IPv6 multicast interface (no ff00::/8 route)"
    : undefined;
}

{
  const name = "doctor passes on this host's own interface";
  const reason = noHostMulticast();
  if (reason === undefined) {
    test(name, async () => {
      const r = await cli(undefined, ["doctor"]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /OK: source filtering works on /);
    });
  } else if (CI) {
    test(name, () => {
      throw new Error(`Cannot run under CI=true: ${reason}`);
    });
  } else {
    console.error(`${name}: skipped, ${reason}`);
    test(name, { skip: reason }, () => {});
  }
}
