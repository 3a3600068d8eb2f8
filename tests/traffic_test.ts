// Which datagrams the kernel delivers after join() and leave(): a listener in
// one namespace, two sources in the other, joined by a veth pair.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { formatIPv6 } from "../_address.ts";
import { libc } from "../ffi/mod.ts";
import {
  closeSocket,
  join,
  leave,
  localPort,
  openSocket,
  send,
  setMulticastHops,
  setMulticastInterface,
} from "../mod.ts";
import { ADDR, type Host, kernelTest, withPair } from "./_kernel.ts";

const G = "ff3e::4a:7";
const MSG_DONTWAIT = 0x40; // Linux

/** Sends `count` datagrams to [G]:port from `source`, out of `host`'s veth. */
function sendFrom(host: Host, source: string, port: number, count: number) {
  const fd = host.enter(() => openSocket({ address: source }));
  try {
    setMulticastInterface(fd, host.ifindex);
    setMulticastHops(fd, 1);
    for (let i = 0; i < count; i++) {
      const payload = new TextEncoder().encode(`${source} #${i}`);
      assert.equal(send(fd, G, port, payload), payload.length, source);
    }
  } finally {
    closeSocket(fd);
  }
}

/** Waits for the link, then returns the sources of every queued datagram. */
async function drain(fd: number): Promise<string[]> {
  await sleep(150);
  const { symbols } = libc();
  const buf = new Uint8Array(2048);
  const from = new Uint8Array(28);
  const len = new Uint8Array(4);
  const seen: string[] = [];
  for (;;) {
    new DataView(len.buffer).setUint32(0, 28, true);
    const n = symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, from, len);
    if (n < 0) break;
    seen.push(formatIPv6(from, 8));
  }
  return seen;
}

function count(seen: string[], source: string): number {
  return seen.filter((s) => s === source).length;
}

/** A listener socket bound to a port in `a`, closed after `fn`. */
async function withListener(
  a: Host,
  fn: (fd: number, port: number) => Promise<void>,
): Promise<void> {
  const fd = a.enter(() => openSocket());
  try {
    await fn(fd, localPort(fd));
  } finally {
    closeSocket(fd);
  }
}

kernelTest(
  "an (S1,G) listener receives S1's datagrams and none of S2's",
  () =>
    withPair((a, b) =>
      withListener(a, async (fd, port) => {
        join(fd, a.ifindex, G, [ADDR.s1]);
        sendFrom(b, ADDR.s1, port, 5);
        sendFrom(b, ADDR.s2, port, 5);
        const seen = await drain(fd);
        assert.equal(count(seen, ADDR.s1), 5, `got ${seen}`);
        assert.equal(count(seen, ADDR.s2), 0, `got ${seen}`);
      })
    ),
);

kernelTest(
  "an any-source listener receives datagrams from both sources",
  () =>
    withPair((a, b) =>
      withListener(a, async (fd, port) => {
        join(fd, a.ifindex, G);
        sendFrom(b, ADDR.s1, port, 5);
        sendFrom(b, ADDR.s2, port, 5);
        const seen = await drain(fd);
        assert.equal(count(seen, ADDR.s1), 5, `got ${seen}`);
        assert.equal(count(seen, ADDR.s2), 5, `got ${seen}`);
      })
    ),
);

kernelTest(
  "after leave() a listener receives nothing",
  () =>
    withPair((a, b) =>
      withListener(a, async (fd, port) => {
        join(fd, a.ifindex, G, [ADDR.s1, ADDR.s2]);
        sendFrom(b, ADDR.s1, port, 2);
        assert.equal((await drain(fd)).length, 2, "joined: traffic arrives");
        leave(fd, a.ifindex, G, [ADDR.s1, ADDR.s2]);
        sendFrom(b, ADDR.s1, port, 5);
        sendFrom(b, ADDR.s2, port, 5);
        assert.deepEqual(await drain(fd), []);

        join(fd, a.ifindex, G);
        leave(fd, a.ifindex, G);
        sendFrom(b, ADDR.s1, port, 5);
        assert.deepEqual(await drain(fd), []);
      })
    ),
);

kernelTest(
  "a refused source leave keeps an any-source listener receiving",
  () =>
    withPair((a, b) =>
      withListener(a, async (fd, port) => {
        join(fd, a.ifindex, G);
        assert.throws(() => leave(fd, a.ifindex, G, [ADDR.s1]));
        assert.throws(() => join(fd, a.ifindex, G, [ADDR.s1]));
        sendFrom(b, ADDR.s1, port, 3);
        sendFrom(b, ADDR.s2, port, 3);
        const seen = await drain(fd);
        assert.equal(count(seen, ADDR.s1), 3, `got ${seen}`);
        assert.equal(count(seen, ADDR.s2), 3, `got ${seen}`);
      })
    ),
);

kernelTest(
  "a socket bound to the port without joining receives nothing",
  () =>
    withPair((a, b) =>
      withListener(a, async (fd, port) => {
        const other = a.enter(() => openSocket({ port }));
        try {
          join(fd, a.ifindex, G);
          sendFrom(b, ADDR.s1, port, 3);
          assert.equal((await drain(fd)).length, 3);
          assert.deepEqual(await drain(other), [], "IPV6_MULTICAST_ALL is off");
        } finally {
          closeSocket(other);
        }
      })
    ),
);
