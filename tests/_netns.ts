/**
 * Network namespaces for the kernel tests (tests/_kernel.ts) and the storm
 * bench (bench/storm.ts), without `node:test`.
 *
 * Each namespace is held by a child process (`unshare -n sleep 600`) and
 * reached through /proc/PID/ns/net, so nothing needs /run/netns: it works as
 * root and inside `unshare -rn`. Ending the holder deletes the namespace and
 * the interfaces in it. Every holder still running is killed when the process
 * exits; one whose parent died ends by itself after 10 minutes.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readlinkSync } from "node:fs";
import process from "node:process";

/** Runs a command; throws with its output when it fails. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`,
    );
  }
  return r.stdout;
}

const holders = new Set<ChildProcess>();

/** Deletes every namespace this process made and has not removed. */
export function removeAllNetns(): void {
  for (const holder of holders) holder.kill("SIGKILL");
  holders.clear();
}
process.on("exit", removeAllNetns);

/** A network namespace held by a child process. */
export class Netns {
  /** The process holding the namespace. */
  readonly holder: ChildProcess;
  /** The pid of that process, as text for `nsenter -t` and `ip ... netns`. */
  readonly pid: string;

  constructor() {
    this.holder = spawn("unshare", ["-n", "sleep", "600"], { stdio: "ignore" });
    holders.add(this.holder);
    this.pid = String(this.holder.pid);
  }

  /** The namespace, as a path setns(2) and nsenter take. */
  get nsPath(): string {
    return `/proc/${this.pid}/ns/net`;
  }

  /** Waits until the holder has its own namespace. */
  async ready(): Promise<void> {
    const home = readlinkSync("/proc/self/ns/net");
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        if (readlinkSync(this.nsPath) !== home) return;
      } catch {
        // not started yet
      }
      if (Date.now() > deadline) throw new Error("unshare -n did not start");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The argv that runs a command inside the namespace. */
  argv(cmd: string, args: string[]): [string, string[]] {
    return ["nsenter", ["-t", this.pid, "-n", cmd, ...args]];
  }

  /** Runs a command inside the namespace; returns its output. */
  run(cmd: string, args: string[]): string {
    return sh(...this.argv(cmd, args));
  }

  /** Sets a sysctl of the namespace, e.g. `net.core.optmem_max`. It is
   * written from inside: /proc/sys/net is the writer's namespace's. */
  sysctl(name: string, value: number): void {
    this.run("sh", [
      "-c",
      `echo ${value} > /proc/sys/${name.replaceAll(".", "/")}`,
    ]);
  }

  /** Deletes the namespace by ending its holder. */
  remove(): void {
    this.holder.kill("SIGKILL");
    holders.delete(this.holder);
  }
}
