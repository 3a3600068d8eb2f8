// deno bench -A bench/join_bench.ts
// join+leave on `lo` through netjoin against a bare FFI setsockopt loop.
import { setup } from "./_join_cases.ts";

const c = setup();

Deno.bench({
  name: "bare FFI setsockopt join+leave (S,G)",
  group: "join+leave (S,G)",
  baseline: true,
  fn: c.bareSsm,
});
Deno.bench({
  name: "netjoin join+leave (S,G), 16-byte addresses",
  group: "join+leave (S,G)",
  fn: c.bytesSsm,
});
Deno.bench({
  name: "netjoin join+leave (S,G), text addresses",
  group: "join+leave (S,G)",
  fn: c.textSsm,
});
Deno.bench({
  name: "bare FFI setsockopt join+leave (*,G)",
  group: "join+leave (*,G)",
  baseline: true,
  fn: c.bareAsm,
});
Deno.bench({
  name: "netjoin join+leave (*,G), 16-byte group",
  group: "join+leave (*,G)",
  fn: c.bytesAsm,
});
Deno.bench({
  name: "netjoin join+leave (*,G), text group",
  group: "join+leave (*,G)",
  fn: c.textAsm,
});
