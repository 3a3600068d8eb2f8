/**
 * Parsers for the Linux /proc files that show the kernel's view of IPv6
 * multicast: memberships (/proc/net/igmp6), source filters
 * (/proc/net/mcfilter6), routes (/proc/net/ipv6_route) and addresses
 * (/proc/net/if_inet6). Pure functions of the file text; reading is the
 * caller's business (Deno needs `--allow-read`, on some files `-A`).
 *
 * @module
 */

/** One row of /proc/net/igmp6: a group joined on an interface. */
export interface Igmp6Row {
  /** Interface index. */
  ifindex: number;
  /** Interface name. */
  ifname: string;
  /** The group, 32 hex digits in network order. */
  group: string;
  /** Sockets (and kernel users) holding the group. */
  users: number;
}

/** One row of /proc/net/mcfilter6: a source of an INCLUDE/EXCLUDE list. */
export interface Mcfilter6Row {
  /** Interface index (the name column is truncated: key on this). */
  ifindex: number;
  /** The group, 32 hex digits. */
  group: string;
  /** The source, 32 hex digits. */
  source: string;
  /** Sockets whose INCLUDE list holds the source. */
  inc: number;
  /** Sockets whose EXCLUDE list holds the source. */
  exc: number;
}

function rows(text: string): string[][] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "")
    .map((l) => l.split(/\s+/));
}

/** Parses /proc/net/igmp6. */
export function parseIgmp6(text: string): Igmp6Row[] {
  return rows(text).map((f) => ({
    ifindex: Number(f[0]),
    ifname: f[1],
    group: f[2],
    users: Number(f[3]),
  }));
}

/** Parses /proc/net/mcfilter6 (its first line is a header). */
export function parseMcfilter6(text: string): Mcfilter6Row[] {
  return rows(text).slice(1).map((f) => ({
    ifindex: Number(f[0]),
    group: f[2],
    source: f[3],
    inc: Number(f[4]),
    exc: Number(f[5]),
  }));
}

/**
 * The interface Linux sends multicast through by default: the device of
 * the ff00::/8 route in /proc/net/ipv6_route (the local table lists it per
 * interface; the first non-loopback one wins). Undefined when none.
 */
export function defaultMulticastInterface(
  ipv6Route: string,
): string | undefined {
  for (const f of rows(ipv6Route)) {
    if (f[0].startsWith("ff") && f[1] === "08" && f[9] !== "lo") return f[9];
  }
  return undefined;
}

/** One row of /proc/net/if_inet6: an address of an interface. */
export interface IfInet6Row {
  /** The address, 32 hex digits. */
  address: string;
  /** Interface index. */
  ifindex: number;
  /** Scope: 0x00 global, 0x20 link, 0x10 host. */
  scope: number;
  /** Interface name. */
  ifname: string;
}

/** Parses /proc/net/if_inet6. */
export function parseIfInet6(text: string): IfInet6Row[] {
  return rows(text).map((f) => ({
    address: f[0],
    ifindex: parseInt(f[1], 16),
    scope: parseInt(f[3], 16),
    ifname: f[5],
  }));
}
