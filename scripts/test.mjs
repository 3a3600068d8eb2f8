// Runs the whole suite under Deno and under Bun, one after the other, and
// ends with the line CI reads: "N passed, N failed" (both runtimes summed).
//   node scripts/test.mjs        (npm test)
// Exits 1 when a test failed, a runner failed, or no test ran.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
// deno-lint-ignore no-control-regex
const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

function run(label, cmd, args, parse) {
  console.log(`\n== ${label}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) {
    console.log(`${label} could not start: ${r.error.message}`);
    return { passed: 0, failed: 1, skipped: 0, ok: false };
  }
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
  const counts = parse(plain(r.stdout + "\n" + r.stderr));
  return { ...counts, ok: r.status === 0 };
}

function denoCounts(out) {
  const m = out.match(
    /\| (\d+) passed[^|\n]*\| (\d+) failed(?: \| (\d+) ignored)?/,
  );
  return m
    ? { passed: +m[1], failed: +m[2], skipped: +(m[3] ?? 0) }
    : { passed: 0, failed: 1, skipped: 0 };
}

function bunCounts(out) {
  const n = (word) =>
    +(out.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
  const ran = /^Ran \d+ tests?/m.test(out);
  return ran
    ? { passed: n("pass"), failed: n("fail"), skipped: n("skip") }
    : { passed: 0, failed: 1, skipped: 0 };
}

const results = [
  run("Deno", bin("deno"), ["test", "-A", "tests/"], denoCounts),
  run("Bun", bin("bun"), ["test", "./tests/"], bunCounts),
];
let passed = 0, failed = 0, skipped = 0;
for (const [i, r] of results.entries()) {
  const label = i === 0 ? "Deno" : "Bun";
  console.log(
    `${label}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${
      r.ok ? "" : " (runner exited non-zero)"
    }`,
  );
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  if (!r.ok && r.failed === 0) failed += 1; // a runner failure counts
}
console.log(
  skipped
    ? `${passed} passed, ${failed} failed, ${skipped} skipped`
    : `${passed} passed, ${failed} failed`,
);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
