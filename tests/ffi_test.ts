// The FFI layer as a user meets it: the permissions it needs, lazy loading,
// and errno read on the calling thread.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { libc } from "../ffi/mod.ts";
import { kernelTest, withPair } from "./_kernel.ts";

const isDeno = "Deno" in globalThis && !("Bun" in globalThis);
const fixture = (name: string) =>
  fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const DENY_ALL_BUT_FFI = [
  "--deny-read",
  "--deny-write",
  "--deny-net",
  "--deny-env",
  "--deny-sys",
  "--deny-run",
];

/** The command line that runs a script under the current runtime. */
function runtime(script: string, denoFlags: string[]): string[] {
  return isDeno
    ? [process.execPath, "run", ...denoFlags, script]
    : [process.execPath, script];
}

kernelTest(
  "a join needs nothing but --allow-ffi in Deno (and nothing in Bun)",
  () =>
    withPair((a) => {
      // Every other permission denied outright: a child of `deno test -A`
      // may otherwise be granted what its parent has.
      const [cmd, ...args] = runtime(fixture("join_once.ts"), [
        "--allow-ffi",
        ...DENY_ALL_BUT_FFI,
        "--no-prompt",
      ]);
      const [nsenter, nsArgs] = a.argv(cmd, [...args, a.ifname]);
      const r = spawnSync(nsenter, nsArgs, { encoding: "utf8" });
      assert.equal(r.stderr, "");
      assert.equal(r.stdout.trim(), "ok");
      assert.equal(r.status, 0);
    }),
);

test("importing netjoin opens no library; bad input fails before FFI is needed", () => {
  const [cmd, ...args] = runtime(fixture("import_only.ts"), [
    "--deny-ffi",
    ...DENY_ALL_BUT_FFI,
    "--no-prompt",
  ]);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [first, second] = r.stdout.trim().split("\n");
  assert.equal(first, "RangeError");
  // Deno without --allow-ffi refuses to open libc only when it is needed.
  assert.equal(second, isDeno ? "NotCapable" : "NetjoinError");
});

test("errno is read right after the failing call on the calling thread", () => {
  const { symbols, errno, platform: p } = libc();
  const mreq = new Uint8Array(20);
  mreq[0] = 0xff;
  // fd 2**31-1 is not open: EBADF, whatever ran before.
  assert.equal(
    symbols.setsockopt(0x7fffffff, p.IPPROTO_IPV6, p.IPV6_JOIN_GROUP, mreq, 20),
    -1,
  );
  assert.equal(errno(), 9);
});
