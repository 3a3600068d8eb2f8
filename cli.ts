/**
 * `netjoin`, the command: listen to IPv6 multicast, any-source or
 * source-specific; send it; and check a host with `doctor`.
 *
 * ```text
 * netjoin listen -i IFACE -g GROUP [-s SOURCE]... [-p PORT] [-c COUNT] [-t SECONDS] [--json]
 * netjoin send   -i IFACE -g GROUP [-p PORT] [--from ADDR] [-c COUNT] [--interval MS] [--hops N] [--size BYTES]
 * netjoin doctor [-i IFACE]
 * ```
 *
 * Exit codes: 0 success, 1 timeout or runtime failure, 2 usage error,
 * 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Groups are left and
 * sockets closed before any exit. Deno needs `-A` (FFI, and /proc for
 * `doctor`); `netjoin <command> --help` tells the rest.
 *
 * @example Run it
 * ```sh
 * deno run -A cli.ts doctor                 # or: deno task demo
 * bun cli.ts listen -i eth0 -g ff3e::1234 -s 2001:db8::1 -c 10 -t 30
 * bun cli.ts send -i eth0 -g ff3e::1234 --from 2001:db8::1 -c 10
 * ```
 *
 * @example Call it from code
 * ```ts ignore
 * import { main } from "@netjoin/netjoin/cli";
 *
 * const code = await main(["doctor"]);
 * ```
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { formatIPv6, parseHex32, parseIPv6 } from "./_address.ts";
import { toGroup, toSource } from "./_args.ts";
import {
  estimatePairs,
  needsScope,
  openSocketOn,
  type OwnAddress,
  ownAddresses,
  readText,
} from "./_cli.ts";
import { readSysctl } from "./_errno.ts";
import {
  defaultMulticastInterface,
  parseIgmp6,
  parseMcfilter6,
} from "./_proc.ts";
import {
  closeSocket,
  type Datagram,
  datagrams,
  interfaceIndex,
  jitter,
  join,
  leave,
  localPort,
  NetjoinError,
  newLimiter,
  openSocket,
  send,
  setMulticastHops,
  setMulticastInterface,
  setMulticastLoop,
} from "./mod.ts";

/** A mistake in the command line: exit 2 with the message. */
class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const DEFAULT_PORT = 5000;
const DOCTOR_GROUP = "ff3e::4e4a:1"; // SSM range ff3x::/32; "NJ"

const HELP: Record<string, string> = {
  main: `netjoin: join IPv6 multicast groups, any-source or source-specific

Usage:
  netjoin listen -i IFACE -g GROUP [-s SOURCE]... [options]
  netjoin send   -i IFACE -g GROUP [options]
  netjoin doctor [-i IFACE]
  netjoin <command> --help

Exit codes: 0 success, 1 timeout or failure, 2 usage error,
130 Ctrl-C, 143 SIGTERM.
`,
  listen: `Usage: netjoin listen -i IFACE -g GROUP [-s SOURCE]... [options]

Joins GROUP on IFACE and prints one line per datagram: from any source
without -s, only from the given sources (one (S,G) join each) with -s.
On a terminal without --json it shows a live count instead.

Options:
  -i, --interface IFACE  interface to join on (required)
  -g, --group GROUP      IPv6 multicast group; repeat for several groups
  -s, --source SOURCE    source address; repeat for several; applies to
                         every group
  -p, --port PORT        UDP port to receive on (default ${DEFAULT_PORT})
  -c, --count COUNT      exit 0 once COUNT datagrams arrived
  -t, --timeout SECONDS  give up after SECONDS (from the start): exit 1 if
                         COUNT was given and not reached, else 0
      --json             one JSON object per datagram: time, group, source,
                         port (the sender's), bytes
      --rate N           pace the joins at N per second (token bucket)
      --jitter MS        wait a random 0..MS ms before joining
  -h, --help             this help

Groups are left on exit, Ctrl-C included (exit 130).
`,
  send: `Usage: netjoin send -i IFACE -g GROUP [options]

Sends COUNT datagrams to [GROUP]:PORT out of IFACE.

Options:
  -i, --interface IFACE  interface to send on (required)
  -g, --group GROUP      IPv6 multicast group (required)
  -p, --port PORT        destination UDP port (default ${DEFAULT_PORT})
      --from ADDR        source address: one of this host's addresses
                         (a link-local one is taken on IFACE)
  -c, --count COUNT      datagrams to send (default 1; 0: until Ctrl-C)
      --interval MS      pause between datagrams (default 1000)
      --hops N           hop limit, 0 to 255 (default 1: this link only)
      --size BYTES       payload size (default: the text "netjoin N")
  -h, --help             this help
`,
  doctor: `Usage: netjoin doctor [-i IFACE]

Checks that source-specific multicast works on this host: joins
(S,${DOCTOR_GROUP}) with the host's own address on IFACE as S, sends
itself datagrams from S and from a second local address (hop limit 1,
multicast loopback), and shows that only S's arrive; prints the kernel's
view (/proc/net/igmp6, /proc/net/mcfilter6) and the limits that matter,
then leaves. Needs no root. Exits 1, saying what is missing, when the
check cannot pass.

Options:
  -i, --interface IFACE  interface to check (default: the one carrying the
                         ff00::/8 route)
  -h, --help             this help
`,
};

// ---------------------------------------------------------------------------
// Argument helpers

type Values = Record<string, string | boolean | string[] | undefined>;

function parse(
  command: string,
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): Values | undefined {
  let values: Values;
  try {
    values = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }).values as Values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    console.log(HELP[command].trimEnd());
    return undefined;
  }
  return values;
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

function required(values: Values, name: string, flag: string): string {
  const v = str(values, name);
  if (v === undefined) throw new UsageError(`${flag} is required`);
  return v;
}

/** A number option: integer or not, within [min, max]. */
function num(
  values: Values,
  name: string,
  flag: string,
  spec: { min: number; max: number; integer: boolean; fallback?: number },
): number | undefined {
  const text = str(values, name);
  if (text === undefined) return spec.fallback;
  const value = text.trim() === "" ? NaN : Number(text);
  const kind = spec.integer ? "an integer" : "a number";
  if (
    !Number.isFinite(value) || (spec.integer && !Number.isInteger(value)) ||
    value < spec.min || value > spec.max
  ) {
    throw new UsageError(
      `${flag} must be ${kind} from ${spec.min} to ${spec.max}, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return value;
}

function group(text: string): Uint8Array {
  try {
    return toGroup(text).slice();
  } catch (error) {
    throw new UsageError(`-g: ${(error as Error).message}`);
  }
}

function source(text: string, flag: string): Uint8Array {
  try {
    return toSource(text, 0).slice();
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

/** Drops repeated addresses, keeping the first of each. */
function unique(addresses: Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>();
  return addresses.filter((a) => {
    const key = formatIPv6(a);
    return !seen.has(key) && seen.add(key) !== undefined;
  });
}

/** The index of interface `name`; an unknown name is a usage error that
 * lists the interfaces there are. */
function iface(name: string): number {
  try {
    return interfaceIndex(name);
  } catch (error) {
    if (error instanceof NetjoinError || error instanceof RangeError) {
      throw new UsageError(`-i: ${error.message}`);
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Signals, timeout and exit

/** Why a run stopped, and the exit code that goes with it. */
type Stop = "count" | "timeout" | "SIGINT" | "SIGTERM";

const SIGNAL_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * An AbortController aborted (with the reason as a {@linkcode Stop}) by
 * SIGINT, SIGTERM and, when given, a timeout. `dispose` removes it all.
 */
function stopper(timeoutSeconds: number | undefined): {
  controller: AbortController;
  dispose: () => void;
} {
  const controller = new AbortController();
  const onSignal = (name: Stop) => () => {
    if (!controller.signal.aborted) controller.abort(name);
  };
  const onInt = onSignal("SIGINT");
  const onTerm = onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const timer = timeoutSeconds === undefined
    ? undefined
    : setTimeout(onSignal("timeout"), timeoutSeconds * 1000);
  return {
    controller,
    dispose: () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

function stopReason(signal: AbortSignal): Stop | undefined {
  const r = signal.reason;
  return signal.aborted && typeof r === "string" ? r as Stop : undefined;
}

/** Rethrows anything but the abort of `signal`. */
function unlessAborted(signal: AbortSignal): (error: unknown) => void {
  return (error) => {
    if (!(signal.aborted && error === signal.reason)) throw error;
  };
}

// ---------------------------------------------------------------------------
// listen

interface Membership {
  fd: number;
  group: Uint8Array;
  groupText: string;
  joined: Uint8Array[]; // sources joined; empty with anySource
  anySource: boolean;
}

async function listen(args: string[]): Promise<number> {
  const values = parse("listen", args, {
    interface: { type: "string", short: "i" },
    group: { type: "string", short: "g", multiple: true },
    source: { type: "string", short: "s", multiple: true },
    port: { type: "string", short: "p" },
    count: { type: "string", short: "c" },
    timeout: { type: "string", short: "t" },
    json: { type: "boolean" },
    rate: { type: "string" },
    jitter: { type: "string" },
  });
  if (values === undefined) return 0;
  const ifname = required(values, "interface", "-i IFACE");
  const groupTexts = list(values, "group");
  if (groupTexts.length === 0) throw new UsageError("-g GROUP is required");
  const groups = unique(groupTexts.map(group));
  const sources = unique(list(values, "source").map((s) => source(s, "-s")));
  const port = num(values, "port", "-p", {
    min: 1,
    max: 65535,
    integer: true,
    fallback: DEFAULT_PORT,
  })!;
  const count = num(values, "count", "-c", {
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    integer: true,
  });
  const timeout = num(values, "timeout", "-t", {
    min: 0,
    max: 2_147_483,
    integer: false,
  });
  const rate = num(values, "rate", "--rate", {
    min: 0,
    max: Infinity,
    integer: false,
    fallback: 0,
  })!;
  const jitterMs = num(values, "jitter", "--jitter", {
    min: 0,
    max: 2_147_483_647,
    integer: false,
    fallback: 0,
  })!;
  const json = values.json === true;
  const ifaceIdx = iface(ifname);

  const { controller, dispose } = stopper(timeout);
  const signal = controller.signal;
  const memberships: Membership[] = [];
  const live = !json && process.stdout.isTTY === true;
  let received = 0;
  const perSource = new Map<string, number>();
  let lastDraw = 0;
  const draw = (force: boolean) => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const from = [...perSource].map(([s, n]) => `${n} from ${s}`).join(", ");
    process.stdout.write(
      `\r\x1b[Kreceived ${received}${count ? `/${count}` : ""}${
        from ? ` (${from})` : ""
      }`,
    );
  };
  const onDatagram = (m: Membership, d: Datagram) => {
    if (count !== undefined && received >= count) return;
    received++;
    if (json) {
      console.log(JSON.stringify({
        time: new Date().toISOString(),
        group: m.groupText,
        source: d.source,
        port: d.port,
        bytes: d.payload.length,
      }));
    } else if (live) {
      perSource.set(d.source, (perSource.get(d.source) ?? 0) + 1);
      draw(false);
    } else {
      console.log(
        `[${d.source}]:${d.port} -> [${m.groupText}]:${port} ${d.payload.length} bytes`,
      );
    }
    if (count !== undefined && received >= count) controller.abort("count");
  };

  let failure: unknown;
  try {
    await jitter(jitterMs, { signal });
    using limiter = newLimiter(rate);
    for (const g of groups) {
      const fd = openSocketOn(g, port, ifaceIdx);
      const m: Membership = {
        fd,
        group: g,
        groupText: formatIPv6(g),
        joined: [],
        anySource: false,
      };
      memberships.push(m);
      if (sources.length === 0) {
        await limiter?.acquire(signal);
        join(fd, ifaceIdx, g);
        m.anySource = true;
      }
      for (const s of sources) {
        await limiter?.acquire(signal);
        join(fd, ifaceIdx, g, [s]);
        m.joined.push(s);
      }
    }
    const what = sources.length === 0
      ? groups.map((g) => `(*, ${formatIPv6(g)})`)
      : groups.flatMap((g) =>
        sources.map((s) => `(${formatIPv6(s)}, ${formatIPv6(g)})`)
      );
    console.error(
      `netjoin listen: joined ${
        what.join(" ")
      } on ${ifname} (index ${ifaceIdx}), listening on port ${port}`,
    );
    if (live) draw(true);
    await Promise.all(memberships.map(async (m) => {
      try {
        for await (const d of datagrams(m.fd, { signal })) onDatagram(m, d);
      } catch (error) {
        unlessAborted(signal)(error);
      }
    }));
  } catch (error) {
    if (signal.aborted && error === signal.reason) {
      // stopped during jitter or a paced join
    } else {
      failure = error;
      if (!signal.aborted) controller.abort("failure");
    }
  } finally {
    if (live) {
      draw(true);
      process.stdout.write("\n");
    }
    for (const m of memberships) {
      try {
        if (m.anySource) leave(m.fd, ifaceIdx, m.group);
        else if (m.joined.length > 0) leave(m.fd, ifaceIdx, m.group, m.joined);
      } catch (error) {
        failure ??= error;
      }
      closeSocket(m.fd);
    }
    dispose();
  }
  if (failure !== undefined) throw failure;
  const reason = stopReason(signal);
  if (reason === "SIGINT" || reason === "SIGTERM") {
    console.error(
      `netjoin listen: ${reason}: left the groups after ${received} datagrams`,
    );
    return SIGNAL_CODES[reason];
  }
  if (reason === "timeout" && count !== undefined) {
    console.error(
      `netjoin listen: timed out after ${timeout} s with ${received} of ${count} datagrams`,
    );
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// send

function payloadOf(seq: number, size: number | undefined): Uint8Array {
  const text = new TextEncoder().encode(`netjoin ${seq}\n`);
  if (size === undefined) return text;
  const out = new Uint8Array(size).fill(0x2e); // "."
  out.set(text.subarray(0, size));
  return out;
}

/** A socket bound to `from`; a `from` that is not the host's gets a hint. */
function bindSource(
  from: Uint8Array,
  ifaceIdx: number,
  ifname: string,
): number {
  try {
    return openSocketOn(from, 0, ifaceIdx);
  } catch (error) {
    if (
      error instanceof NetjoinError && error.operation === "bind" &&
      error.code === "EADDRNOTAVAIL"
    ) {
      throw new NetjoinError(error.message, {
        code: error.code,
        errno: error.errno,
        operation: error.operation,
        hint: `--from ${formatIPv6(from)} is not an address of this host${
          needsScope(from) ? ` on ${ifname}` : ""
        } (see \`ip -6 addr\`)`,
      });
    }
    throw error;
  }
}

async function sendCommand(args: string[]): Promise<number> {
  const values = parse("send", args, {
    interface: { type: "string", short: "i" },
    group: { type: "string", short: "g", multiple: true },
    port: { type: "string", short: "p" },
    from: { type: "string" },
    count: { type: "string", short: "c" },
    interval: { type: "string" },
    hops: { type: "string" },
    size: { type: "string" },
  });
  if (values === undefined) return 0;
  const ifname = required(values, "interface", "-i IFACE");
  const groupTexts = list(values, "group");
  if (groupTexts.length !== 1) {
    throw new UsageError(
      groupTexts.length === 0
        ? "-g GROUP is required"
        : "send takes one -g GROUP",
    );
  }
  const g = group(groupTexts[0]);
  const fromText = str(values, "from");
  const from = fromText === undefined ? undefined : source(fromText, "--from");
  const port = num(values, "port", "-p", {
    min: 1,
    max: 65535,
    integer: true,
    fallback: DEFAULT_PORT,
  })!;
  const count = num(values, "count", "-c", {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    integer: true,
    fallback: 1,
  })!;
  const interval = num(values, "interval", "--interval", {
    min: 0,
    max: 2_147_483_647,
    integer: false,
    fallback: 1000,
  })!;
  const hops = num(values, "hops", "--hops", {
    min: 0,
    max: 255,
    integer: true,
    fallback: 1,
  })!;
  const size = num(values, "size", "--size", {
    min: 0,
    max: 65527,
    integer: true,
  });
  const ifaceIdx = iface(ifname);

  const { controller, dispose } = stopper(undefined);
  const signal = controller.signal;
  const fd = from === undefined
    ? openSocket()
    : bindSource(from, ifaceIdx, ifname);
  const groupText = formatIPv6(g);
  const fromNote = from === undefined ? "" : ` from [${formatIPv6(from)}]`;
  let sent = 0;
  try {
    setMulticastInterface(fd, ifaceIdx);
    setMulticastHops(fd, hops);
    while (count === 0 || sent < count) {
      if (sent > 0) await sleep(interval, undefined, { signal });
      const bytes = send(fd, g, port, payloadOf(sent + 1, size));
      sent++;
      console.log(
        `sent ${sent}${
          count ? `/${count}` : ""
        }: ${bytes} bytes to [${groupText}]:${port}${fromNote} on ${ifname}`,
      );
    }
  } catch (error) {
    unlessAborted(signal)(error);
  } finally {
    closeSocket(fd);
    dispose();
  }
  const reason = stopReason(signal);
  if (reason === "SIGINT" || reason === "SIGTERM") {
    console.error(`netjoin send: ${reason} after ${sent} datagrams`);
    return SIGNAL_CODES[reason];
  }
  return 0;
}

// ---------------------------------------------------------------------------
// doctor

/** A problem that stops the doctor: say what, exit 1. */
class Missing extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Missing";
  }
}

const IFF_UP = 0x1;
const IFF_MULTICAST = 0x1000;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function procNet(file: string): string {
  const text = readText(`/proc/net/${file}`);
  if (text === undefined) {
    throw new Missing(
      `cannot read /proc/net/${file}: doctor needs Linux /proc (and -A in Deno)`,
    );
  }
  return text;
}

/** The kernel's view of `g` on `ifindex`: igmp6 and mcfilter6 lines. */
function kernelView(ifindex: number, g: Uint8Array): string[] {
  const key = hex(g);
  const lines: string[] = [];
  const igmp = parseIgmp6(procNet("igmp6"))
    .filter((r) => r.ifindex === ifindex && r.group === key);
  for (const r of igmp) {
    lines.push(
      `/proc/net/igmp6      ${r.ifname} (${r.ifindex}) ${
        formatIPv6(g)
      } users=${r.users}`,
    );
  }
  if (igmp.length === 0) {
    lines.push(`/proc/net/igmp6      no row for the group`);
  }
  const text = procNet("mcfilter6");
  const rows = parseMcfilter6(text)
    .filter((r) => r.ifindex === ifindex && r.group === key);
  const raw = text.split("\n").slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[0]) === ifindex && f[2] === key);
  for (const [i, r] of rows.entries()) {
    const s = formatIPv6(parseHex32(r.source)!);
    lines.push(`/proc/net/mcfilter6  ${raw[i]?.join(" ") ?? ""}`);
    lines.push(
      `  = (${s}, ${
        formatIPv6(g)
      }) on interface ${r.ifindex}: in the INCLUDE list of ${r.inc} socket(s), the EXCLUDE list of ${r.exc}`,
    );
  }
  if (rows.length === 0) {
    lines.push(`/proc/net/mcfilter6  no row for the group`);
  }
  return lines;
}

function pickInterface(given: string | undefined): string {
  if (readText("/proc/net/if_inet6") === undefined) {
    throw new Missing(
      "IPv6 is not available: /proc/net/if_inet6 is missing (IPv6 disabled, or not Linux)",
    );
  }
  if (given !== undefined) return given;
  const route = procNet("ipv6_route");
  const ifname = defaultMulticastInterface(route);
  if (ifname === undefined) {
    throw new Missing(
      "no IPv6 multicast interface: no interface but lo carries the ff00::/8 route (see `ip -6 route show table local`); bring one up or pass -i IFACE",
    );
  }
  return ifname;
}

function pickAddresses(
  ifname: string,
): { s: OwnAddress; second: OwnAddress } {
  const own = ownAddresses(procNet("if_inet6"), ifname);
  if (own.length === 0) {
    throw new Missing(
      `${ifname} has no usable IPv6 address (none, or still tentative): doctor needs the host's own address as S`,
    );
  }
  const s = own[0];
  const second = own.find((a) => a !== s && a.scope === "global") ??
    own.find((a) => a !== s);
  if (second === undefined) {
    throw new Missing(
      `${ifname} has one usable IPv6 address (${s.text}): doctor needs a second one, such as a link-local fe80:: address, to show that other sources are filtered`,
    );
  }
  return { s, second };
}

/** Sends `n` datagrams to [g]:port from `from`, out of `ifaceIdx`. */
function sendFrom(
  from: OwnAddress,
  ifaceIdx: number,
  g: Uint8Array,
  port: number,
  n: number,
): void {
  const fd = openSocketOn(from.bytes, 0, ifaceIdx);
  try {
    setMulticastInterface(fd, ifaceIdx);
    setMulticastHops(fd, 1);
    setMulticastLoop(fd, true);
    for (let i = 1; i <= n; i++) send(fd, g, port, `netjoin doctor ${i}`);
  } finally {
    closeSocket(fd);
  }
}

/** Receives on `fd` until `done` says so or `ms` pass; counts by source. */
async function collect(
  fd: number,
  ms: number,
  done: (counts: Map<string, number>) => boolean,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const signal = AbortSignal.timeout(ms);
  try {
    for await (const d of datagrams(fd, { signal })) {
      counts.set(d.source, (counts.get(d.source) ?? 0) + 1);
      if (done(counts)) break;
    }
  } catch (error) {
    unlessAborted(signal)(error);
  }
  return counts;
}

async function doctor(args: string[]): Promise<number> {
  const values = parse("doctor", args, {
    interface: { type: "string", short: "i" },
  });
  if (values === undefined) return 0;
  const given = str(values, "interface");
  let last = "";
  const out = (label: string, text: string) => {
    console.log(`${(label === last ? "" : label).padEnd(10)}${text}`);
    if (label !== "") last = label;
  };
  console.log(`netjoin doctor: is source-specific multicast live here?`);
  try {
    const ifname = pickInterface(given);
    const ifaceIdx = iface(ifname);
    const flags = parseInt(
      readText(`/sys/class/net/${ifname}/flags`) ?? "0x1001",
      16,
    );
    const defaultIf = defaultMulticastInterface(procNet("ipv6_route"));
    out(
      "interface",
      `${ifname} (index ${ifaceIdx}), ${flags & IFF_UP ? "up" : "DOWN"}, ${
        flags & IFF_MULTICAST ? "multicast" : "NO MULTICAST flag"
      }${defaultIf === ifname ? ", carries the ff00::/8 route" : ""}`,
    );
    if (!(flags & IFF_UP)) throw new Missing(`${ifname} is down`);
    if (!(flags & IFF_MULTICAST)) {
      throw new Missing(`${ifname} does not do multicast (no MULTICAST flag)`);
    }
    const { s, second } = pickAddresses(ifname);
    out("source", `S = ${s.text} (${s.scope}), the host's own address`);
    out("other", `${second.text} (${second.scope}), a second local address`);

    const g = parseIPv6(DOCTOR_GROUP)!;
    // The (S,G) socket, and an any-source control socket on the same port
    // that shows the other source's datagrams do reach the host.
    const fd = openSocketOn(g, 0, ifaceIdx);
    let control = -1;
    let joined = false;
    let controlJoined = false;
    try {
      const port = localPort(fd);
      join(fd, ifaceIdx, g, [s.bytes]);
      joined = true;
      out(
        "join",
        `(${s.text}, ${DOCTOR_GROUP}) on ${ifname}, port ${port}: ok`,
      );
      for (const line of kernelView(ifaceIdx, g)) out("kernel", line);

      control = openSocketOn(g, port, ifaceIdx);
      join(control, ifaceIdx, g);
      controlJoined = true;
      const N = 3;
      sendFrom(second, ifaceIdx, g, port, N);
      sendFrom(s, ifaceIdx, g, port, N);
      out(
        "traffic",
        `sent ${N} from ${s.text} and ${N} from ${second.text} (hop limit 1, loopback)`,
      );
      const [ssm, asm] = await Promise.all([
        collect(fd, 2000, (c) => (c.get(s.text) ?? 0) >= N),
        collect(
          control,
          2000,
          (c) => (c.get(s.text) ?? 0) >= N && (c.get(second.text) ?? 0) >= N,
        ),
      ]);
      await sleep(100); // anything late from the second address
      const late = await collect(fd, 50, () => false);
      for (const [k, v] of late) ssm.set(k, (ssm.get(k) ?? 0) + v);
      const got = (m: Map<string, number>, a: OwnAddress) => m.get(a.text) ?? 0;
      out(
        "received",
        `(S,G) socket: ${got(ssm, s)} from S, ${
          got(ssm, second)
        } from ${second.text}`,
      );
      out(
        "received",
        `(*,G) control socket: ${got(asm, s)} from S, ${
          got(asm, second)
        } from ${second.text}`,
      );

      const msf = readSysctl("net.ipv6.mld_max_msf");
      const optmem = readSysctl("net.core.optmem_max");
      out(
        "limits",
        `net.ipv6.mld_max_msf = ${
          msf ?? "absent in this namespace (kernel default 64)"
        } sources per socket and group`,
      );
      out(
        "limits",
        `net.core.optmem_max = ${
          optmem ?? "unknown"
        } bytes of option memory per socket`,
      );
      if (optmem !== undefined) {
        const max = msf ?? 64;
        out(
          "limits",
          `estimate: about ${
            estimatePairs(optmem, 1, max)
          } (S,G) per socket with one source per group, about ${
            estimatePairs(optmem, max, max)
          } with ${max} sources per group`,
        );
      }

      leave(fd, ifaceIdx, g, [s.bytes]);
      joined = false;
      leave(control, ifaceIdx, g);
      controlJoined = false;
      const after = kernelView(ifaceIdx, g).filter((l) =>
        l.startsWith("/proc/net/mcfilter6")
      );
      out("leave", `left; ${after.join("; ")}`);

      if (got(ssm, s) < N) {
        throw new Missing(
          `only ${
            got(ssm, s)
          } of ${N} datagrams from S reached the (S,G) socket: is multicast loopback filtered (firewall, net.ipv6.conf.${ifname}.disable_ipv6)?`,
        );
      }
      if (got(asm, second) === 0) {
        throw new Missing(
          `no datagram from ${second.text} reached the host even any-source, so source filtering could not be shown (a firewall?)`,
        );
      }
      if (got(ssm, second) > 0) {
        throw new Missing(
          `the (S,G) socket received ${
            got(ssm, second)
          } datagrams from ${second.text}: the kernel did not filter sources`,
        );
      }
      out("result", `OK: source filtering works on ${ifname}`);
      return 0;
    } finally {
      if (joined) leave(fd, ifaceIdx, g);
      closeSocket(fd);
      if (control >= 0) {
        if (controlJoined) leave(control, ifaceIdx, g);
        closeSocket(control);
      }
    }
  } catch (error) {
    if (error instanceof Missing) {
      out("result", `FAILED: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------
// main

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  listen,
  send: sendCommand,
  doctor,
};

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Runs the `netjoin` command with `args` (without the program name) and
 * resolves with its exit code: 0 success, 1 timeout or runtime failure, 2
 * usage error, 130 after SIGINT, 143 after SIGTERM. It prints to stdout and
 * stderr and installs SIGINT/SIGTERM listeners while it runs, but does not
 * exit the process.
 *
 * @example
 * ```ts ignore
 * import { main } from "@netjoin/netjoin/cli";
 *
 * process.exitCode = await main(["send", "-i", "eth0", "-g", "ff3e::1234"]);
 * ```
 *
 * @param args The command line, e.g. `["doctor", "-i", "eth0"]`.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (
    name === undefined || name === "-h" || name === "--help" || name === "help"
  ) {
    const text = HELP.main.trimEnd();
    if (name === undefined) {
      console.error(text);
      return 2;
    }
    console.log(text);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(
      `netjoin: unknown command ${JSON.stringify(name)}\n` +
        `Commands: listen, send, doctor. Try 'netjoin --help'.`,
    );
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`netjoin ${name}: ${oneLine(error.message)}`);
      console.error(`Try 'netjoin ${name} --help'.`);
      return 2;
    }
    if (error instanceof NetjoinError) {
      console.error(`netjoin ${name}: ${oneLine(error.message)}`);
      return 1;
    }
    if (error instanceof Error) {
      console.error(
        `netjoin ${name}: ${error.name}: ${oneLine(error.message)}`,
      );
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
