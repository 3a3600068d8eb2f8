// The multicast option setters and send(), checked with getsockopt and with
// what a listener on the other end of a veth pair (or on the same host)
// receives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { libc } from "../ffi/mod.ts";
import {
  closeSocket,
  type Datagram,
  interfaceIndex,
  join,
  localPort,
  NetjoinError,
  openSocket,
  receive,
  send,
  setMulticastAll,
  setMulticastHops,
  setMulticastInterface,
  setMulticastLoop,
} from "../mod.ts";
import { ADDR, type Host, kernelTest, withPair } from "./_kernel.ts";

const G = "ff3e::4a:9";
const isLinux = process.platform === "linux";

/** An int socket option read back with getsockopt(IPPROTO_IPV6, name). */
function getInt(fd: number, name: number): number {
  const { symbols, platform: p } = libc();
  const value = new Uint8Array(4);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, 4, true);
  assert.equal(symbols.getsockopt(fd, p.IPPROTO_IPV6, name, value, len), 0);
  return new DataView(value.buffer).getInt32(0, true);
}

function withSocket(fn: (fd: number) => void): void {
  const fd = openSocket();
  try {
    fn(fd);
  } finally {
    closeSocket(fd);
  }
}

test("setMulticastHops and setMulticastLoop show in getsockopt", () =>
  withSocket((fd) => {
    const p = libc().platform;
    assert.equal(getInt(fd, p.IPV6_MULTICAST_HOPS), 1, "kernel default");
    setMulticastHops(fd, 64);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_HOPS), 64);
    setMulticastHops(fd, 0);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_HOPS), 0);
    setMulticastHops(fd, -1);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_HOPS), 1, "-1 is the default");

    assert.equal(getInt(fd, p.IPV6_MULTICAST_LOOP), 1, "kernel default");
    setMulticastLoop(fd, false);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_LOOP), 0);
    setMulticastLoop(fd, true);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_LOOP), 1);
  }));

test("setMulticastInterface shows in getsockopt; an unknown index is ENODEV", () =>
  withSocket((fd) => {
    const p = libc().platform;
    const lo = interfaceIndex("lo");
    setMulticastInterface(fd, lo);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_IF), lo);
    setMulticastInterface(fd, 0);
    assert.equal(getInt(fd, p.IPV6_MULTICAST_IF), 0);
    assert.throws(() => setMulticastInterface(fd, 0x7ffffff0), (e) => {
      assert.ok(e instanceof NetjoinError);
      assert.equal(e.code, "ENODEV");
      assert.equal(e.fd, fd);
      assert.match(e.message, /IPV6_MULTICAST_IF to 2147483632/);
      return true;
    });
  }));

test("setMulticastAll shows in getsockopt (Linux); openSocket turned it off", {
  skip: isLinux ? false : "IPV6_MULTICAST_ALL is Linux only",
}, () =>
  withSocket((fd) => {
    const name = libc().platform.IPV6_MULTICAST_ALL!;
    assert.equal(getInt(fd, name), 0, "openSocket's default");
    setMulticastAll(fd, true);
    assert.equal(getInt(fd, name), 1);
    setMulticastAll(fd, false);
    assert.equal(getInt(fd, name), 0);
  }));

test("a closed fd is the kernel's EBADF for setters and send", () => {
  const fd = openSocket();
  closeSocket(fd);
  for (
    const call of [
      () => setMulticastHops(fd, 1),
      () => setMulticastLoop(fd, true),
      () => setMulticastInterface(fd, 0),
      () => send(fd, G, 9, "x"),
    ]
  ) {
    assert.throws(call, (e) => {
      assert.ok(e instanceof NetjoinError, String(e));
      assert.equal(e.code, "EBADF");
      assert.equal(e.origin, "kernel");
      return true;
    });
  }
});

test("invalid arguments are refused before any system call", () => {
  // fd 2^31-1 is not open: a TypeError/RangeError proves no call was made
  const fd = 0x7fffffff;
  assert.throws(() => setMulticastHops(fd, 256), /hops .* got 256/);
  assert.throws(() => setMulticastHops(fd, -2), RangeError);
  assert.throws(() => setMulticastHops(fd, 1.5), RangeError);
  assert.throws(() => setMulticastHops(fd, "1" as unknown as number), {
    name: "TypeError",
    message: 'hops must be a number, got "1"',
  });
  assert.throws(() => setMulticastLoop(fd, 1 as unknown as boolean), {
    name: "TypeError",
    message: "loop must be true or false, got 1",
  });
  assert.throws(() => setMulticastAll(fd, "no" as unknown as boolean), {
    name: "TypeError",
    message: 'all must be true or false, got "no"',
  });
  assert.throws(() => setMulticastInterface(fd, -1), RangeError);
  assert.throws(() => setMulticastInterface(-1, 1), RangeError);
  assert.throws(() => send(fd, "2001:db8::1", 9, "x"), /not multicast/);
  assert.throws(() => send(fd, "ff3e::zz", 9, "x"), TypeError);
  assert.throws(() => send(fd, G, 0, "x"), /port .* got 0/);
  assert.throws(() => send(fd, G, 65536, "x"), RangeError);
  assert.throws(() => send(fd, G, "9" as unknown as number, "x"), TypeError);
  assert.throws(() => send(fd, G, 9, 42 as unknown as string), {
    name: "TypeError",
    message: "payload must be a Uint8Array or text, got 42",
  });
});

/** A socket in `host` bound to `address`, sending out of `host`'s link. */
function senderIn(host: Host, address: string): number {
  const fd = host.enter(() => openSocket({ address }));
  setMulticastInterface(fd, host.ifindex);
  return fd;
}

/** The first datagram within `ms`, or undefined. */
function within(fd: number, ms: number): Promise<Datagram | undefined> {
  const signal = AbortSignal.timeout(ms);
  return receive(fd, { signal }).catch((e) => {
    if (e === signal.reason) return undefined;
    throw e;
  });
}

kernelTest(
  "send goes out from the address the socket is bound to",
  () =>
    withPair(async (a, b) => {
      const fd = a.enter(() => openSocket());
      const s2 = senderIn(b, ADDR.s2);
      try {
        join(fd, a.ifindex, G);
        let got: Datagram | undefined;
        for (let i = 0; i < 20 && got === undefined; i++) {
          assert.equal(send(s2, G, localPort(fd), "hello"), 5);
          got = await within(fd, 25);
        }
        assert.ok(got, "nothing arrived");
        assert.equal(got.source, ADDR.s2);
        assert.equal(got.port, localPort(s2));
        assert.equal(new TextDecoder().decode(got.payload), "hello");
      } finally {
        closeSocket(fd);
        closeSocket(s2);
      }
    }),
);

kernelTest(
  "setMulticastLoop decides whether a listener on the same host hears it",
  () =>
    withPair(async (a) => {
      const fd = a.enter(() => openSocket());
      const self = senderIn(a, ADDR.a);
      try {
        join(fd, a.ifindex, G);
        const port = localPort(fd);
        let got: Datagram | undefined;
        for (let i = 0; i < 20 && got === undefined; i++) {
          send(self, G, port, "looped");
          got = await within(fd, 25);
        }
        assert.equal(got?.source, ADDR.a, "loop is on by default");
        while (await within(fd, 20)); // drain the retries

        setMulticastLoop(self, false);
        send(self, G, port, "not looped");
        assert.equal(await within(fd, 100), undefined);

        setMulticastLoop(self, true);
        send(self, G, port, "looped again");
        const again = await within(fd, 200);
        assert.equal(
          new TextDecoder().decode(again?.payload),
          "looped again",
        );
      } finally {
        closeSocket(fd);
        closeSocket(self);
      }
    }),
);

kernelTest(
  "with IPV6_MULTICAST_ALL on, a socket that never joined receives too",
  () =>
    withPair(async (a, b) => {
      if (!isLinux) return;
      const fd = a.enter(() => openSocket());
      const port = localPort(fd);
      const other = a.enter(() => openSocket({ port }));
      const s1 = senderIn(b, ADDR.s1);
      try {
        join(fd, a.ifindex, G);
        let got: Datagram | undefined;
        for (let i = 0; i < 20 && got === undefined; i++) {
          send(s1, G, port, "warm-up");
          got = await within(fd, 25);
        }
        assert.ok(got, "nothing arrived");
        assert.equal(await within(other, 20), undefined, "it is off");
        send(s1, G, port, "off");
        assert.equal((await within(fd, 200))?.source, ADDR.s1);
        assert.equal(await within(other, 50), undefined, "off: nothing");

        setMulticastAll(other, true);
        send(s1, G, port, "on");
        const heard = await within(other, 200);
        assert.equal(new TextDecoder().decode(heard?.payload), "on");
      } finally {
        closeSocket(fd);
        closeSocket(other);
        closeSocket(s1);
      }
    }),
);
