// receive() and datagrams() against the real kernel: a listener in one
// namespace, senders bound to S1 and S2 in the other, joined by a veth pair.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { waitingFds } from "../_poller.ts";
import { openLibcSymbols } from "../ffi/mod.ts";
import {
  closeSocket,
  type Datagram,
  datagrams,
  join,
  Limiter,
  localPort,
  NetjoinError,
  openSocket,
  receive,
  send,
  setMulticastInterface,
} from "../mod.ts";
import { ADDR, type Host, kernelTest, withPair } from "./_kernel.ts";

const G = "ff3e::4a:8";
const isDeno = "Deno" in globalThis && !("Bun" in globalThis);
const text = (d: Datagram) => new TextDecoder().decode(d.payload);
const fixture = fileURLToPath(
  new URL("./fixtures/receive_once.ts", import.meta.url),
);

/** A sender socket in `host` bound to `source`, its interface set. */
function sender(host: Host, source: string): number {
  const fd = host.enter(() => openSocket({ address: source }));
  setMulticastInterface(fd, host.ifindex);
  return fd;
}

/** Opens sockets with `open`, runs `fn`, and closes them all. */
async function withSockets(
  open: () => number[],
  fn: (...fds: number[]) => Promise<void>,
): Promise<void> {
  const fds = open();
  try {
    await fn(...fds);
  } finally {
    for (const fd of fds) closeSocket(fd);
  }
}

/**
 * Sends `payload` from `fd` every 20 ms until `until` settles: a fresh veth
 * may drop the first datagrams.
 */
async function sendUntil<T>(
  fd: number,
  port: number,
  payload: string,
  until: Promise<T>,
): Promise<T> {
  let done = false;
  const settled = until.finally(() => done = true);
  while (!done) {
    send(fd, G, port, payload);
    await Promise.race([settled, new Promise((r) => setTimeout(r, 20))]);
  }
  return settled;
}

kernelTest(
  "receive yields the payload, source address and port of each sender",
  () =>
    withPair((a, b) =>
      withSockets(
        () => [
          a.enter(() => openSocket()),
          sender(b, ADDR.s1),
          sender(b, ADDR.s2),
        ],
        async (fd, s1, s2) => {
          join(fd, a.ifindex, G);
          const signal = AbortSignal.timeout(900);
          const first = await sendUntil(
            s1,
            localPort(fd),
            "from s1",
            receive(fd, { signal }),
          );
          assert.equal(first.source, ADDR.s1);
          assert.equal(first.port, localPort(s1));
          assert.equal(text(first), "from s1");
          assert.equal(first.scopeId, 0);
          // the link is up now: one datagram is enough
          send(s2, G, localPort(fd), new Uint8Array([0, 1, 2, 255]));
          let next = await receive(fd, { signal });
          while (next.source === ADDR.s1) next = await receive(fd, { signal });
          assert.equal(next.source, ADDR.s2);
          assert.equal(next.port, localPort(s2));
          assert.deepEqual([...next.payload], [0, 1, 2, 255]);
        },
      )
    ),
);

kernelTest(
  "an (S1,G) listener receives S1's datagrams and none of S2's",
  () =>
    withPair((a, b) =>
      withSockets(
        () => [
          a.enter(() => openSocket()),
          sender(b, ADDR.s1),
          sender(b, ADDR.s2),
        ],
        async (fd, s1, s2) => {
          join(fd, a.ifindex, G, [ADDR.s1]);
          const port = localPort(fd);
          const signal = AbortSignal.timeout(900);
          await sendUntil(s1, port, "warm-up", receive(fd, { signal }));
          for (let i = 0; i < 3; i++) {
            send(s2, G, port, `s2 #${i}`);
            send(s1, G, port, `s1 #${i}`);
          }
          const seen: string[] = [];
          for await (const d of datagrams(fd, { signal })) {
            if (text(d) === "warm-up") continue;
            seen.push(`${d.source} ${text(d)}`);
            if (text(d) === "s1 #2") break;
          }
          assert.deepEqual(seen, [0, 1, 2].map((i) => `${ADDR.s1} s1 #${i}`));
          assert.equal(waitingFds(), 0, "break leaves nothing waiting");
          // and nothing from S2 is queued behind them
          const quiet = AbortSignal.timeout(100);
          for (;;) {
            const d = await receive(fd, { signal: quiet }).catch((e) => e);
            if (d === quiet.reason) break;
            assert.equal(text(d as Datagram), "warm-up", `got ${d}`);
          }
        },
      )
    ),
);

kernelTest(
  "two listeners wait at once and each gets its own datagram",
  () =>
    withPair((a, b) =>
      withSockets(
        () => [
          a.enter(() => openSocket()),
          a.enter(() => openSocket()),
          sender(b, ADDR.s1),
        ],
        async (fd1, fd2, s1) => {
          join(fd1, a.ifindex, G);
          join(fd2, a.ifindex, G);
          const signal = AbortSignal.timeout(900);
          const both = Promise.all([
            receive(fd1, { signal }),
            receive(fd2, { signal }),
          ]);
          assert.equal(waitingFds(), 2);
          let done = false;
          both.finally(() => done = true).catch(() => {});
          while (!done) {
            send(s1, G, localPort(fd1), "one");
            send(s1, G, localPort(fd2), "two");
            await Promise.race([both, new Promise((r) => setTimeout(r, 20))]);
          }
          const [d1, d2] = await both;
          assert.equal(text(d1), "one");
          assert.equal(text(d2), "two");
        },
      )
    ),
);

test("abort rejects a pending receive with signal.reason, promptly", async () => {
  const fd = openSocket();
  try {
    const controller = new AbortController();
    const pending = receive(fd, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 30)); // surely waiting in poll
    assert.equal(waitingFds(), 1);
    const reason = new Error("stop");
    const t0 = performance.now();
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
    const ms = performance.now() - t0;
    assert.ok(ms < 50, `took ${ms} ms`);
    assert.equal(waitingFds(), 0);
  } finally {
    closeSocket(fd);
  }
});

test("an already-aborted signal rejects at once, before any system call", async () => {
  const signal = AbortSignal.abort(new Error("early"));
  // fd 2^31-1 is not open: the reason, not EBADF, proves nothing was called
  await assert.rejects(
    receive(0x7fffffff, { signal }),
    (e) => e === signal.reason,
  );
  const it = datagrams(0x7fffffff, { signal });
  await assert.rejects(it.next(), (e) => e === signal.reason);
  assert.equal(waitingFds(), 0);
});

test("timers and the limiter keep running while a receive is pending", async () => {
  const fd = openSocket();
  const limiter = new Limiter(100, { burst: 1, startEmpty: true });
  try {
    const controller = new AbortController();
    const pending = receive(fd, { signal: controller.signal });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let granted = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 250) {
      await limiter.acquire();
      granted++;
    }
    clearInterval(timer);
    assert.equal(waitingFds(), 1, "still waiting");
    controller.abort();
    await assert.rejects(pending, (e) => e === controller.signal.reason);
    assert.ok(ticks >= 15, `only ${ticks} ticks of 10 ms in 250 ms`);
    assert.ok(granted >= 15, `only ${granted} grants at 100/s in 250 ms`);
  } finally {
    limiter.stop();
    closeSocket(fd);
  }
});

test("process signals are handled while a receive is pending", async () => {
  const fd = openSocket();
  let handled = 0;
  const onSignal = () => handled++;
  process.on("SIGUSR2", onSignal);
  try {
    const controller = new AbortController();
    const pending = receive(fd, { signal: controller.signal });
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      process.kill(process.pid, "SIGUSR2");
    }
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(handled, 5);
    assert.equal(waitingFds(), 1, "still waiting");
    controller.abort();
    await assert.rejects(pending, (e) => e === controller.signal.reason);
  } finally {
    process.off("SIGUSR2", onSignal);
    closeSocket(fd);
  }
});

test("shutdown(SHUT_RD) rejects a pending receive instead of spinning", async () => {
  const { symbols } = openLibcSymbols(
    {
      // int shutdown(int sockfd, int how);
      shutdown: { parameters: ["i32", "i32"], result: "i32" },
    } as const,
  );
  const fd = openSocket();
  try {
    const pending = receive(fd, { signal: AbortSignal.timeout(500) });
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    // an unconnected UDP socket answers ENOTCONN yet wakes its pollers
    symbols.shutdown(fd, 0);
    await assert.rejects(pending, (e) => {
      assert.ok(e instanceof NetjoinError, String(e));
      assert.equal(e.code, "ESHUTDOWN");
      return true;
    });
    assert.ok(performance.now() - t0 < 50);
    assert.equal(waitingFds(), 0);
  } finally {
    closeSocket(fd);
  }
});

test("a new socket that reuses a closed fd's number is not mistaken for it", async () => {
  // The poll started for the old socket may run after it was closed and
  // report POLLNVAL for the number; that must not reach the new socket.
  for (let i = 0; i < 20; i++) {
    const old = openSocket();
    const controller = new AbortController();
    const first = receive(old, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, i % 3)); // vary the timing
    controller.abort();
    closeSocket(old);
    const fd = openSocket();
    await first.catch(() => {});
    try {
      const quiet = AbortSignal.timeout(15);
      await assert.rejects(
        receive(fd, { signal: quiet }),
        (e) => e === quiet.reason,
        `round ${i}, fd ${fd} (old ${old})`,
      );
    } finally {
      closeSocket(fd);
    }
  }
});

test("closeSocket rejects a pending receive with EBADF", async () => {
  const fd = openSocket();
  const pending = receive(fd);
  await new Promise((r) => setTimeout(r, 20));
  closeSocket(fd);
  await assert.rejects(pending, (e) => {
    assert.ok(e instanceof NetjoinError);
    assert.equal(e.code, "EBADF");
    assert.equal(e.fd, fd);
    return true;
  });
  assert.equal(waitingFds(), 0);
});

test("an fd that is not open is the kernel's EBADF from recvfrom", async () => {
  await assert.rejects(receive(0x7ffffffe), (e) => {
    assert.ok(e instanceof NetjoinError, String(e));
    assert.equal(e.code, "EBADF");
    assert.equal(e.operation, "recvfrom");
    return true;
  });
  assert.equal(waitingFds(), 0);
});

test("invalid arguments are refused before any system call", async () => {
  await assert.rejects(receive(-1), RangeError);
  await assert.rejects(receive("3" as unknown as number), TypeError);
  await assert.rejects(
    receive(3, { signal: "soon" as unknown as AbortSignal }),
    /signal must be an AbortSignal, got "soon"/,
  );
  await assert.rejects(
    receive(3, null as unknown as undefined),
    /options must be an object, got null/,
  );
  assert.throws(() => datagrams(1.5), /fd must be .* got 1\.5/);
  assert.throws(
    () => datagrams(3, { signal: {} as AbortSignal }),
    TypeError,
  );
});

kernelTest(
  "a process whose receive finished exits by itself (--allow-ffi only)",
  () =>
    withPair(async (a, b) => {
      const cmd = isDeno
        ? [process.execPath, "run", "--allow-ffi", "--no-prompt", fixture]
        : [process.execPath, fixture];
      const [run, args] = a.argv(cmd[0], [
        ...cmd.slice(1),
        "exit",
        a.ifname,
        G,
      ]);
      const child = spawn(run, args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stderr.on("data", (c) => err += c);
      const exited = new Promise<number | null>((resolve) =>
        child.on("exit", (code) => resolve(code))
      );
      const ready = new Promise<number>((resolve) =>
        child.stdout.on("data", (c) => {
          out += c;
          const m = out.match(/ready (\d+)/);
          if (m) resolve(Number(m[1]));
        })
      );
      const killer = setTimeout(() => child.kill(), 3000);
      try {
        const port = await Promise.race([ready, exited.then(() => 0)]);
        assert.ok(port > 0, `child did not start: ${err}`);
        const s1 = sender(b, ADDR.s1);
        try {
          await sendUntil(s1, port, "bye", exited);
        } finally {
          closeSocket(s1);
        }
        assert.equal(await exited, 0, err);
        assert.match(out, new RegExp(`got ${ADDR.s1} bye`));
      } finally {
        clearTimeout(killer);
      }
    }),
);

kernelTest(
  "an idle receive uses under 1 % of a core",
  () =>
    withPair(async (a) => {
      const cmd = isDeno
        ? [process.execPath, "run", "--allow-ffi", "--no-prompt", fixture]
        : [process.execPath, fixture];
      const [run, args] = a.argv(cmd[0], [...cmd.slice(1), "idle", "1000"]);
      const child = spawn(run, args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (c) => out += c);
      child.stderr.on("data", (c) => err += c);
      const code = await new Promise((r) => child.on("exit", r));
      assert.equal(code, 0, err);
      const report = JSON.parse(out);
      assert.equal(report.end, "aborted");
      assert.ok(report.percent < 1, `idle receive used ${out}`);
    }),
);
