// Bad input fails before any system call, with TypeError or RangeError
// quoting the value, and leaves the kernel's state as it was.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIPv6 } from "../_address.ts";
import {
  closeSocket,
  interfaceIndex,
  join,
  leave,
  openSocket,
} from "../mod.ts";
import { ADDR, filterMode, hex, kernelTest, withPair } from "./_kernel.ts";

const G = "ff3e::4a:9";
const S = "2001:db8::1";

const both = [join, leave] as const;

function throwsFor(
  call: () => void,
  type: typeof TypeError | typeof RangeError,
  pattern: RegExp,
) {
  assert.throws(call, (error: unknown) => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${error}`);
    assert.match((error as Error).message, pattern);
    return true;
  });
}

test("join() and leave() refuse an fd that is not a non-negative integer", () => {
  for (const fn of both) {
    throwsFor(
      () => fn("3" as unknown as number, 1, G),
      TypeError,
      /fd must be a number, got "3"/,
    );
    throwsFor(() => fn(-1, 1, G), RangeError, /fd .* got -1/);
    throwsFor(() => fn(1.5, 1, G), RangeError, /got 1\.5/);
    throwsFor(() => fn(NaN, 1, G), RangeError, /got NaN/);
    throwsFor(() => fn(2 ** 31, 1, G), RangeError, /got 2147483648/);
  }
});

test("join() and leave() refuse an ifaceIdx that is not a non-negative integer", () => {
  for (const fn of both) {
    throwsFor(
      () => fn(3, null as unknown as number, G),
      TypeError,
      /ifaceIdx must be a number, got null/,
    );
    throwsFor(() => fn(3, -2, G), RangeError, /got -2/);
    throwsFor(() => fn(3, 2 ** 32, G), RangeError, /got 4294967296/);
  }
});

test("join() refuses group text that is not an IPv6 address", () => {
  for (
    const bad of [
      "ff3e:::1",
      "ff3e::1::2",
      "ff3e::12345",
      "ff3e::1 ",
      "ff3e::1x",
      "",
      "ff3e::1%eth0",
    ]
  ) {
    throwsFor(
      () => join(3, 1, bad),
      TypeError,
      new RegExp(
        `Group ${
          JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        } is not an IPv6 address`,
      ),
    );
  }
});

test("join() refuses an IPv4 group, naming it as IPv4", () => {
  throwsFor(
    () => join(3, 1, "239.1.1.1"),
    TypeError,
    /"239\.1\.1\.1" is an IPv4 address/,
  );
  throwsFor(() => join(3, 1, "::ffff:239.1.1.1"), RangeError, /IPv4-mapped/);
});

test("join() refuses a group that is not multicast", () => {
  throwsFor(
    () => join(3, 1, "2001:db8::1"),
    RangeError,
    /"2001:db8::1" is not multicast/,
  );
  throwsFor(
    () => join(3, 1, new Uint8Array(16)),
    RangeError,
    /bytes of :: is not multicast/,
  );
});

test("join() refuses a byte group that is not 16 bytes", () => {
  throwsFor(
    () => join(3, 1, new Uint8Array(4)),
    RangeError,
    /Group must be 16 bytes, got 4 bytes/,
  );
  throwsFor(() => join(3, 1, 42 as unknown as string), TypeError, /got 42/);
});

test("join() refuses a multicast, unspecified, mapped or malformed source", () => {
  throwsFor(
    () => join(3, 1, G, ["ff3e::1"]),
    RangeError,
    /Source "ff3e::1" is a multicast address/,
  );
  throwsFor(() => join(3, 1, G, ["::"]), RangeError, /unspecified/);
  throwsFor(
    () => join(3, 1, G, ["::ffff:10.0.0.1"]),
    RangeError,
    /IPv4-mapped/,
  );
  throwsFor(
    () => join(3, 1, G, ["2001:db8::g"]),
    TypeError,
    /Source "2001:db8::g" is not an IPv6 address/,
  );
  throwsFor(
    () => join(3, 1, G, [new Uint8Array(15)]),
    RangeError,
    /Source must be 16 bytes, got 15/,
  );
  throwsFor(() => join(3, 1, G, [7 as unknown as string]), TypeError, /got 7/);
});

test("join() refuses sources that are not an iterable of addresses", () => {
  throwsFor(
    () => join(3, 1, G, S as unknown as string[]),
    TypeError,
    /wrap a single source in an array/,
  );
  throwsFor(
    () => join(3, 1, G, parseIPv6(S) as unknown as string[]),
    TypeError,
    /wrap a single source/,
  );
  throwsFor(
    () => join(3, 1, G, 5 as unknown as string[]),
    TypeError,
    /iterable of addresses, got 5/,
  );
  throwsFor(
    () => join(3, 1, G, {} as unknown as string[]),
    TypeError,
    /iterable/,
  );
});

test("interfaceIndex() refuses names that cannot be interface names", () => {
  throwsFor(() => interfaceIndex(""), RangeError, /""/);
  throwsFor(() => interfaceIndex("a".repeat(16)), RangeError, /1 to 15 bytes/);
  throwsFor(() => interfaceIndex(3 as unknown as string), TypeError, /got 3/);
});

test("openSocket() refuses a bad port or address", () => {
  throwsFor(() => openSocket({ port: 70000 }), RangeError, /70000/);
  throwsFor(
    () => openSocket({ port: "80" as unknown as number }),
    TypeError,
    /"80"/,
  );
  throwsFor(
    () => openSocket({ address: "10.0.0.1" }),
    TypeError,
    /"10\.0\.0\.1"/,
  );
});

kernelTest(
  "a call with a bad last source changes nothing in the kernel",
  () =>
    withPair((a) => {
      const fd = a.enter(() => openSocket());
      try {
        const g = parseIPv6(G)!;
        join(fd, a.ifindex, G, [ADDR.s1]);
        const before = a.filter(hex(g));
        throwsFor(
          () => join(fd, a.ifindex, G, [ADDR.s2, "ff02::1"]),
          RangeError,
          /multicast/,
        );
        throwsFor(
          () => leave(fd, a.ifindex, G, [ADDR.s1, "nope"]),
          TypeError,
          /"nope"/,
        );
        throwsFor(
          () => join(fd, a.ifindex, "ff3e::zz", [ADDR.s2]),
          TypeError,
          /ff3e::zz/,
        );
        assert.deepEqual(a.filter(hex(g)), before);
        assert.equal(filterMode(fd, a.ifindex, g), "INCLUDE{1}");
      } finally {
        closeSocket(fd);
      }
    }),
);

test("join() checks again a text group or source that differs from the last one", () => {
  // A text address checked once is remembered until another replaces it.
  throwsFor(() => join(-1, 1, "ff3e::1", ["2001:db8::1"]), RangeError, /fd/);
  throwsFor(() => join(3, 1, "2001:db8::1"), RangeError, /not multicast/);
  throwsFor(
    () => join(3, 1, "ff3e::1", ["ff3e::1"]),
    RangeError,
    /multicast address/,
  );
  throwsFor(
    () => join(3, 1, "ff3e::1", ["2001:db8::1", "::"]),
    RangeError,
    /unspecified/,
  );
  throwsFor(
    () => join(-1, 1, "ff3e::1", ["2001:db8::1", "2001:db8::2"]),
    RangeError,
    /fd/,
  );
});

test("join() refuses a missing group after a group that failed to parse", () => {
  // The fd is one no process has open: a call that got through would fail
  // with EBADF instead of the TypeError.
  const fd = 2 ** 31 - 1;
  for (const fn of both) {
    throwsFor(() => fn(fd, 1, "ff3e::1:zz"), TypeError, /not an IPv6/);
    throwsFor(
      () => fn(fd, 1, undefined as unknown as string),
      TypeError,
      /Group must be an IPv6 address as text or 16 bytes, got undefined/,
    );
  }
});
