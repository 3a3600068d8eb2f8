/**
 * The main job: joins one (S,G) on the default multicast interface, prints
 * the kernel's view of it from /proc, leaves, and shows it gone.
 *
 *   deno run -A demo.ts        (or: deno task demo, npm run demo)
 *   bun demo.ts
 *
 * S is the host's own address on that interface, so the join is real and
 * harmless: one MLDv2 report on the local link, and the same when leaving.
 * Exits 1, saying what is missing, where there is no IPv6 multicast
 * interface.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { formatIPv6, parseHex32, parseIPv6 } from "./_address.ts";
import { readSysctl } from "./_errno.ts";
import {
  defaultMulticastInterface,
  parseIfInet6,
  parseIgmp6,
  parseMcfilter6,
} from "./_proc.ts";
import {
  closeSocket,
  interfaceIndex,
  join,
  leave,
  NetjoinError,
  openSocket,
} from "./mod.ts";

const GROUP = "ff3e::4e4a:1"; // SSM range (ff3x::/32), "NJ"

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    console.error(`Cannot read ${path}: ${(error as Error).message}`);
    console.error("netjoin demo needs Linux /proc (and -A in Deno).");
    process.exit(1);
  }
}

const text = (hex: string) => formatIPv6(parseHex32(hex)!);

function kernelView(ifindex: number, group: string): void {
  const groupHex = Array.from(
    parseIPv6(group)!,
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const memberships = parseIgmp6(read("/proc/net/igmp6"))
    .filter((r) => r.ifindex === ifindex && r.group === groupHex);
  const filters = parseMcfilter6(read("/proc/net/mcfilter6"))
    .filter((r) => r.ifindex === ifindex && r.group === groupHex);
  if (memberships.length === 0) {
    console.log(`  /proc/net/igmp6:     no membership of ${group}`);
  }
  for (const r of memberships) {
    console.log(
      `  /proc/net/igmp6:     ${r.ifname} (${r.ifindex}) ${
        text(r.group)
      } users=${r.users}`,
    );
  }
  if (filters.length === 0) {
    console.log(`  /proc/net/mcfilter6: no source filter for ${group}`);
  }
  for (const r of filters) {
    console.log(
      `  /proc/net/mcfilter6: ${text(r.group)} source ${
        text(r.source)
      } INCLUDE=${r.inc} EXCLUDE=${r.exc}`,
    );
  }
}

const ifname = defaultMulticastInterface(read("/proc/net/ipv6_route"));
if (ifname === undefined) {
  console.error(
    "No interface carries an IPv6 multicast route (ff00::/8): " +
      "this host has no IPv6 multicast interface to join on.",
  );
  process.exit(1);
}
const ifindex = interfaceIndex(ifname);
const own = parseIfInet6(read("/proc/net/if_inet6"))
  .filter((r) => r.ifname === ifname)
  .sort((a, b) => a.scope - b.scope)[0]; // global before link-local
const source = own ? text(own.address) : "2001:db8::1";

console.log(
  `netjoin demo: (S,G) = (${source}, ${GROUP}) on ${ifname} (index ${ifindex})`,
);
console.log(
  `  limits: net.ipv6.mld_max_msf=${
    readSysctl("net.ipv6.mld_max_msf") ?? "absent here (64)"
  } sources per socket and group, net.core.optmem_max=${
    readSysctl("net.core.optmem_max") ?? "unknown"
  } bytes per socket`,
);
const fd = openSocket();
try {
  join(fd, ifindex, GROUP, [source]);
  console.log("joined:");
  kernelView(ifindex, GROUP);
  leave(fd, ifindex, GROUP, [source]);
  console.log("left:");
  kernelView(ifindex, GROUP);
} catch (error) {
  if (!(error instanceof NetjoinError)) throw error;
  console.error(`${error.name} ${error.code}: ${error.message}`);
  process.exitCode = 1;
} finally {
  closeSocket(fd);
}
