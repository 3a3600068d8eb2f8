/**
 * Cost of encoding a `group_source_req` into a reused buffer, against a
 * baseline that only copies the two 16-byte addresses into place with `set`;
 * and of the updates join and leave use on their hot path (the interface and
 * group, or the source alone, into a buffer already encoded).
 *
 * Only the Linux record is used, as in a real process (one platform object
 * keeps the encoder monomorphic).
 *
 * Run with `deno bench -A bench/structs_bench.ts`.
 *
 * @module
 */

import { PLATFORMS } from "../_platform.ts";
import {
  encodeGroupSourceReq,
  updateGroupSourceReqGroup,
  updateGroupSourceReqSource,
} from "../_structs.ts";

const p = PLATFORMS.linux;
const out = new Uint8Array(p.groupSourceReqSize);
/** ff3e::1234 */
const group = new Uint8Array([
  0xff,
  0x3e,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0x12,
  0x34,
]);
/** 2001:db8::5 */
const source = new Uint8Array([
  0x20,
  0x01,
  0x0d,
  0xb8,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  5,
]);
let ifindex = 0;

Deno.bench({
  name: "baseline: out.set(src16, offset) twice",
  group: "group_source_req into a reused buffer",
  baseline: true,
  fn(): void {
    out.set(group, p.gsrGroupOffset + 8);
    out.set(source, p.gsrSourceOffset + 8);
  },
});

Deno.bench({
  name: "encodeGroupSourceReq (interface, padding, 2 x sockaddr_in6)",
  group: "group_source_req into a reused buffer",
  fn(): void {
    encodeGroupSourceReq(p, (ifindex++ & 7) + 1, group, source, out);
  },
});

Deno.bench({
  name: "updateGroupSourceReqGroup + updateGroupSourceReqSource",
  group: "group_source_req into a reused buffer",
  fn(): void {
    updateGroupSourceReqGroup(p, (ifindex++ & 7) + 1, group, out);
    updateGroupSourceReqSource(p, source, out);
  },
});

Deno.bench({
  name: "updateGroupSourceReqSource (what a join's next source costs)",
  group: "group_source_req into a reused buffer",
  fn(): void {
    updateGroupSourceReqSource(p, source, out);
  },
});
