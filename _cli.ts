/**
 * What the `netjoin` command needs besides the public API: sockets bound to
 * a link-scoped address (a link-local source, a link-local group) with the
 * right scope id; the host's own addresses from /proc; and the kernel's
 * option-memory arithmetic behind the doctor's estimate of (S,G) per socket.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { formatIPv6, parseHex32 } from "./_address.ts";
import { parseIfInet6 } from "./_proc.ts";
import { openSocket } from "./socket.ts";

/**
 * True when binding `address` needs a scope id (an interface): link-local
 * unicast (fe80::/10) and interface- or link-local multicast (ff01::/16,
 * ff02::/16 and their flag variants).
 */
export function needsScope(address: Uint8Array): boolean {
  if (address[0] === 0xfe && (address[1] & 0xc0) === 0x80) return true;
  return address[0] === 0xff && (address[1] & 0x0f) <= 2;
}

/**
 * Opens an IPv6 UDP socket bound to `[address]:port` with
 * {@linkcode openSocket}, with `scopeId` as the interface of a link-scoped
 * address.
 */
export function openSocketOn(
  address: Uint8Array,
  port: number,
  scopeId: number,
): number {
  return openSocket({
    address: formatIPv6(address),
    port,
    scopeId: needsScope(address) ? scopeId : 0,
  });
}

/** One of the host's IPv6 addresses on an interface. */
export interface OwnAddress {
  /** The address as canonical text. */
  text: string;
  /** Its 16 bytes. */
  bytes: Uint8Array;
  /** `"global"` (includes unique-local), `"link"` or `"host"`. */
  scope: "global" | "link" | "host" | "other";
}

// IFA_F_* flags of /proc/net/if_inet6 that make an address unusable as a
// source: tentative (DAD running) and DAD failed.
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

/**
 * The usable addresses of interface `ifname` from /proc/net/if_inet6 text,
 * global ones first. Tentative and DAD-failed addresses are left out.
 */
export function ownAddresses(ifInet6: string, ifname: string): OwnAddress[] {
  const flags = new Map<string, number>();
  for (const line of ifInet6.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6) flags.set(`${f[0]} ${f[5]}`, parseInt(f[4], 16));
  }
  const scopes: Record<number, OwnAddress["scope"]> = {
    0x00: "global",
    0x20: "link",
    0x10: "host",
  };
  return parseIfInet6(ifInet6)
    .filter((r) => r.ifname === ifname)
    .filter((r) =>
      ((flags.get(`${r.address} ${r.ifname}`) ?? 0) &
        (IFA_F_TENTATIVE | IFA_F_DADFAILED)) === 0
    )
    .sort((a, b) => a.scope - b.scope)
    .map((r) => {
      const bytes = parseHex32(r.address)!;
      return {
        text: formatIPv6(bytes),
        bytes,
        scope: scopes[r.scope] ?? "other",
      };
    });
}

/** Reads a text file, or undefined when it cannot be read. */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

// What Linux charges to a socket's option memory (sk_omem_alloc, bounded by
// net.core.optmem_max) for memberships, on 64-bit kernels: a struct
// ipv6_mc_socklist per group, and a source list (struct ip6_sf_socklist)
// that holds room for 10 sources (IP6_SFBLOCK) and grows by 10. Checked
// against measurements: 546 single-source groups at 131072, 85 at 20480.
const GROUP_BYTES = 56;
const SOURCE_LIST_HEAD = 24;
const SOURCE_BYTES = 16;
const SOURCE_BLOCK = 10;

/** Bytes a group with `sources` sources costs (0 sources: any-source). */
export function membershipBytes(sources: number): number {
  if (sources === 0) return GROUP_BYTES;
  const room = Math.ceil(sources / SOURCE_BLOCK) * SOURCE_BLOCK;
  return GROUP_BYTES + SOURCE_LIST_HEAD + SOURCE_BYTES * room;
}

/**
 * About how many (S,G) one socket can hold under `optmemMax`, with
 * `perGroup` sources in each group (capped by `maxMsf`). Linux allocates
 * while `charged + size < optmem_max`; growing a source list briefly holds
 * the old and the new list, so the last group may stop a block short.
 */
export function estimatePairs(
  optmemMax: number,
  perGroup: number,
  maxMsf: number,
): number {
  const per = Math.max(1, Math.min(perGroup, maxMsf));
  const groups = Math.floor((optmemMax - 1) / membershipBytes(per));
  return groups * per;
}
