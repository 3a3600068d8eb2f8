// npm links node_modules/.bin/deno straight to the deno executable, and
// `deno task` runs whatever it finds in node_modules/.bin as JavaScript
// (denoland/deno#27114), so every task that calls `deno` would fail. Point
// the link at the package's own launcher script instead, which starts the
// executable: it works from `deno task`, npm scripts and the shell alike.
// Runs as this package's postinstall.
import { readlinkSync, symlinkSync, unlinkSync } from "node:fs";

const link = "node_modules/.bin/deno";
const target = "../deno/bin.cjs";
try {
  if (readlinkSync(link) !== target) {
    unlinkSync(link);
    symlinkSync(target, link);
  }
} catch (error) {
  if (error.code !== "ENOENT") throw error;
}
