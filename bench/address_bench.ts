/**
 * Cost of parsing IPv6 text with `parseIPv6` against a baseline that only
 * copies 16 bytes (the work a join does when given bytes instead of text).
 *
 * Run: `deno bench -A bench/address_bench.ts`
 *
 * @module
 */
import { formatIPv6, parseHex32, parseIPv6 } from "../_address.ts";

const FULL = "ff3e:0000:0000:0000:0000:0000:8000:0001";
const COMPRESSED = "ff02::1:ff00:1";
const IPV4_TAIL = "::ffff:192.0.2.128";
const SOURCE = parseIPv6(FULL)!;
const HEX = "ff3e0000000000000000000080000001";

let sink = 0;

Deno.bench("baseline: copy 16 bytes into a new array", {
  group: "parse",
  baseline: true,
}, () => {
  const out = new Uint8Array(16);
  out.set(SOURCE);
  sink ^= out[15];
});

// Shows how much of the baseline is the allocation itself (large in Deno 2.x).
const REUSED = new Uint8Array(16);
Deno.bench(
  "copy 16 bytes into a preallocated array",
  { group: "parse" },
  () => {
    REUSED.set(SOURCE);
    sink ^= REUSED[15];
  },
);

Deno.bench(
  "parseIPv6 full (8 groups, leading zeros)",
  { group: "parse" },
  () => {
    sink ^= parseIPv6(FULL)![15];
  },
);

Deno.bench("parseIPv6 compressed", { group: "parse" }, () => {
  sink ^= parseIPv6(COMPRESSED)![15];
});

Deno.bench("parseIPv6 IPv4 tail", { group: "parse" }, () => {
  sink ^= parseIPv6(IPV4_TAIL)![15];
});

Deno.bench("parseIPv6 invalid (zone id)", { group: "parse" }, () => {
  sink ^= parseIPv6("fe80::1%eth0") === undefined ? 1 : 0;
});

Deno.bench("parseHex32 (/proc/net/igmp6 field)", { group: "parse" }, () => {
  sink ^= parseHex32(HEX)![15];
});

Deno.bench("formatIPv6", { group: "format" }, () => {
  sink ^= formatIPv6(SOURCE).length;
});

globalThis.addEventListener("unload", () => {
  if (sink === 0x7fffffff) console.log(sink);
});
