// node:dgram's join+leave loops for bench/cost.ts, under Node, Bun or Deno:
//   ssm: addSourceSpecificMembership + dropSourceSpecificMembership
//   asm: addMembership + dropMembership
// of ff3e::b:1 (source 2001:db8::b1) on `lo`, given to dgram as the
// interface "::%lo": the zone names the interface. Node ignores a bare "lo"
// (EINVAL), and Bun silently takes "lo", "%lo" or "::%1" as "no interface"
// and lets the kernel route the group, so a check below reads
// /proc/net/igmp6 after the first join and refuses to go on unless the
// membership is on lo (ifindex 1).
//
// Speaks the cost worker protocol (see join_loop.c): prints
// "ready <runtime> <version>", then answers each "<case> <iterations>" line
// with the mean ns per join+leave, or "error <text>"; exits at end of input.
//
//   printf 'ssm 20000\n' | node bench/cost/dgram_worker.mjs
//   printf 'ssm 20000\n' | bun bench/cost/dgram_worker.mjs
//   printf 'ssm 20000\n' | deno run -A bench/cost/dgram_worker.mjs
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";

const GROUP = "ff3e::b:1";
const GROUP_HEX = "ff3e00000000000000000000000b0001";
const SOURCE = "2001:db8::b1";
const IFACE = "::%lo";

const runtime = globalThis.Bun
  ? `Bun ${globalThis.Bun.version}`
  : globalThis.Deno
  ? `Deno ${globalThis.Deno.version.deno}`
  : `Node ${process.versions.node}`;

const say = (line) => process.stdout.write(line + "\n");
const describe = (error) =>
  [error.code, error.message].filter(Boolean).join(": ");

const socket = dgram.createSocket({ type: "udp6", reuseAddr: true });
await new Promise((resolve, reject) => {
  socket.once("error", reject);
  socket.bind(0, "::", resolve);
});

const cases = {
  ssm: {
    join: () => socket.addSourceSpecificMembership(SOURCE, GROUP, IFACE),
    leave: () => socket.dropSourceSpecificMembership(SOURCE, GROUP, IFACE),
    loop(n) {
      for (let i = 0; i < n; i++) {
        socket.addSourceSpecificMembership(SOURCE, GROUP, IFACE);
        socket.dropSourceSpecificMembership(SOURCE, GROUP, IFACE);
      }
    },
  },
  asm: {
    join: () => socket.addMembership(GROUP, IFACE),
    leave: () => socket.dropMembership(GROUP, IFACE),
    loop(n) {
      for (let i = 0; i < n; i++) {
        socket.addMembership(GROUP, IFACE);
        socket.dropMembership(GROUP, IFACE);
      }
    },
  },
};

/** Interfaces (ifindex name) that hold the group in /proc/net/igmp6. */
function holders() {
  return readFileSync("/proc/net/igmp6", "utf8").split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[2] === GROUP_HEX)
    .map((f) => `${f[0]} ${f[1]}`);
}

/** Joins once, checks the membership is on lo only, leaves. */
function check(c) {
  const before = holders();
  c.join();
  const after = holders().filter((h) => !before.includes(h));
  c.leave();
  if (after.length !== 1 || after[0] !== "1 lo") {
    throw new Error(
      `joined on [${after.join(", ")}] instead of lo: stopping`,
    );
  }
}

const checked = new Set();
say(`ready ${runtime}`);
for await (const line of createInterface({ input: process.stdin })) {
  const [name, count] = line.trim().split(/\s+/);
  const iterations = Number(count);
  const c = cases[name];
  if (c === undefined || !(iterations > 0)) {
    say(`error bad request: ${line}`);
    continue;
  }
  try {
    if (!checked.has(name)) {
      check(c);
      checked.add(name);
    }
    const start = performance.now();
    c.loop(iterations);
    const elapsed = performance.now() - start;
    say((elapsed * 1e6 / iterations).toFixed(1));
  } catch (error) {
    say(`error ${describe(error)}`);
    if (/instead of lo/.test(error.message)) break;
  }
}
socket.close();
