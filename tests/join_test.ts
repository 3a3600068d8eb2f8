// The kernel's view of join() and leave(), read from /proc inside a network
// namespace made for each test.
import assert from "node:assert/strict";
import { closeSocket, join, leave, NetjoinError, openSocket } from "../mod.ts";
import { parseIPv6 } from "../_address.ts";
import { parseMcfilter6 } from "../_proc.ts";
import {
  ADDR,
  filterMode,
  hex,
  type Host,
  kernelTest,
  rawJoinAnySource,
  withPair,
} from "./_kernel.ts";

const G = "ff3e::4a:1";
const g = parseIPv6(G)!;
const GHEX = hex(g);
const S1HEX = hex(parseIPv6(ADDR.s1)!);
const S2HEX = hex(parseIPv6(ADDR.s2)!);

function src(i: number): string {
  return `2001:db8:5::${(i + 1).toString(16)}`;
}

/** Opens a socket inside `host`'s namespace, closes it after `fn`. */
async function withSocket(
  host: Host,
  fn: (fd: number) => void | Promise<void>,
): Promise<void> {
  const fd = host.enter(() => openSocket());
  try {
    await fn(fd);
  } finally {
    closeSocket(fd);
  }
}

function assertNetjoinError(
  fn: () => void,
  code: string,
  pattern?: RegExp,
): NetjoinError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof NetjoinError,
    `expected a NetjoinError ${code}, got ${caught}`,
  );
  assert.equal(caught.code, code, caught.message);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

kernelTest(
  "join() without sources makes one any-source membership",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G);
        assert.equal(a.users(GHEX), 1);
        assert.deepEqual(a.filter(GHEX), []); // ASM has no mcfilter6 row
        leave(fd, a.ifindex, G);
        assert.equal(a.users(GHEX), 0);
      })
    ),
);

kernelTest(
  "join() with an empty sources array joins from any source",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, []);
        assert.equal(a.users(GHEX), 1);
        assert.deepEqual(a.filter(GHEX), []);
      })
    ),
);

kernelTest(
  "join() with sources makes one INCLUDE entry per source",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1, ADDR.s2]);
        assert.equal(a.users(GHEX), 1);
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`, `${S2HEX}:1:0`]);
        assert.equal(filterMode(fd, a.ifindex, g), "INCLUDE{2}");
        leave(fd, a.ifindex, G, [ADDR.s1]);
        assert.deepEqual(a.filter(GHEX), [`${S2HEX}:1:0`]);
        leave(fd, a.ifindex, G, [ADDR.s2]);
        assert.deepEqual(a.filter(GHEX), []);
        assert.equal(a.users(GHEX), 0, "the last source takes the group along");
      })
    ),
);

kernelTest(
  "join() takes 16-byte addresses as well as text",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, parseIPv6(G)!, [parseIPv6(ADDR.s1)!]);
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
        leave(fd, a.ifindex, parseIPv6(G)!, new Set([parseIPv6(ADDR.s1)!]));
        assert.equal(a.users(GHEX), 0);
      })
    ),
);

kernelTest(
  "each call sends its own group as groups, sockets and byte arrays change",
  () =>
    withPair((a) =>
      withSocket(a, (fd1) =>
        withSocket(a, (fd2) => {
          const G2 = "ff3e::4a:2";
          const G2HEX = hex(parseIPv6(G2)!);
          join(fd1, a.ifindex, G, [ADDR.s1]);
          join(fd2, a.ifindex, G2, [ADDR.s1]);
          join(fd1, a.ifindex, G2, [ADDR.s2]);
          // One array, rewritten in place between calls, names two groups.
          const bytes = parseIPv6(G)!;
          join(fd2, a.ifindex, bytes, [ADDR.s2]);
          bytes.set(parseIPv6(G2)!);
          leave(fd2, a.ifindex, bytes, [ADDR.s1]);
          assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`, `${S2HEX}:1:0`]);
          assert.deepEqual(a.filter(G2HEX), [`${S2HEX}:1:0`]);
          assert.equal(filterMode(fd1, a.ifindex, g), "INCLUDE{1}");
          assert.equal(filterMode(fd2, a.ifindex, g), "INCLUDE{1}");
          assert.equal(filterMode(fd2, a.ifindex, parseIPv6(G2)!), "none");
        }))
    ),
);

kernelTest(
  "the any-source struct follows a byte group rewritten in place",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        const G2HEX = hex(parseIPv6("ff3e::4a:2")!);
        const bytes = parseIPv6(G)!;
        join(fd, a.ifindex, bytes);
        bytes.set(parseIPv6("ff3e::4a:2")!);
        join(fd, a.ifindex, bytes);
        assert.equal(a.users(GHEX), 1);
        assert.equal(a.users(G2HEX), 1);
        leave(fd, a.ifindex, bytes);
        assert.equal(a.users(GHEX), 1);
        assert.equal(a.users(G2HEX), 0);
      })
    ),
);

kernelTest(
  "one socket holds a group on two interfaces, in a different mode on each",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        const LO = 1;
        const onLo = () =>
          parseMcfilter6(a.procNet("mcfilter6"))
            .filter((r) => r.ifindex === LO && r.group === GHEX)
            .map((r) => `${r.source}:${r.inc}:${r.exc}`).sort();
        join(fd, LO, G, [ADDR.s1]);
        join(fd, a.ifindex, G);
        join(fd, LO, G, [ADDR.s2]);
        assert.deepEqual(onLo(), [`${S1HEX}:1:0`, `${S2HEX}:1:0`]);
        assert.equal(filterMode(fd, LO, g), "INCLUDE{2}");
        assert.equal(filterMode(fd, a.ifindex, g), "EXCLUDE{}");
        leave(fd, a.ifindex, G);
        assert.equal(a.users(GHEX), 0);
        assert.equal(filterMode(fd, LO, g), "INCLUDE{2}");
        leave(fd, LO, G, [ADDR.s1]);
        assert.deepEqual(onLo(), [`${S2HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "joins stay right after the bookkeeping sweeps hundreds of left groups",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        const group = (i: number) => `ff3e::4b:${(i + 1).toString(16)}`;
        // Enough left groups for a sweep of the idle entries (at 256).
        for (let i = 0; i < 300; i++) {
          join(fd, a.ifindex, group(i), [ADDR.s1]);
          leave(fd, a.ifindex, group(i), [ADDR.s1]);
        }
        join(fd, a.ifindex, group(0), [ADDR.s2]);
        join(fd, a.ifindex, group(299), [ADDR.s1]);
        const hex0 = hex(parseIPv6(group(0))!);
        const hex299 = hex(parseIPv6(group(299))!);
        assert.deepEqual(a.filter(hex0), [`${S2HEX}:1:0`]);
        assert.deepEqual(a.filter(hex299), [`${S1HEX}:1:0`]);
        assert.equal(
          a.mcfilter6().length,
          2,
          "only the two groups joined last are held",
        );
      })
    ),
);

kernelTest(
  "a reused fd number starts with no bookkeeping once closeSocket closed it",
  () =>
    withPair((a) => {
      const fd = a.enter(() => openSocket());
      join(fd, a.ifindex, G); // any-source: a source join would be refused
      closeSocket(fd);
      const again = a.enter(() => openSocket());
      try {
        assert.equal(again, fd, "the kernel hands out the lowest free fd");
        join(again, a.ifindex, G, [ADDR.s1]);
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
      } finally {
        closeSocket(again);
      }
    }),
);

kernelTest(
  "a sources iterable that joins while it is read leaves the outer group alone",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        const G2 = "ff3e::4a:2";
        function* sources() {
          join(fd, a.ifindex, G2, [ADDR.s2]);
          yield ADDR.s1;
        }
        join(fd, a.ifindex, G, sources());
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
        assert.deepEqual(a.filter(hex(parseIPv6(G2)!)), [`${S2HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "join() collapses duplicate sources of one call",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1, "2001:DB8:6A:0::11", ADDR.s1]);
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "two sockets on one (S,G) count INC 2 and one igmp6 user each",
  () =>
    withPair(async (a) => {
      await withSocket(a, (fd1) =>
        withSocket(a, (fd2) => {
          join(fd1, a.ifindex, G, [ADDR.s1]);
          join(fd2, a.ifindex, G, [ADDR.s1]);
          assert.deepEqual(a.filter(GHEX), [`${S1HEX}:2:0`]);
          assert.equal(a.users(GHEX), 2);
          leave(fd1, a.ifindex, G);
          assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
        }));
      assert.equal(a.users(GHEX), 0, "closing a socket drops its memberships");
    }),
);

kernelTest(
  "leave() without sources drops a source-specific membership",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1, ADDR.s2]);
        leave(fd, a.ifindex, G);
        assert.equal(a.users(GHEX), 0);
        assert.deepEqual(a.filter(GHEX), []);
        // and the socket can join again, in either mode
        join(fd, a.ifindex, G);
        assert.equal(a.users(GHEX), 1);
      })
    ),
);

// errno cases from the kernel reference

kernelTest(
  "a second any-source join of a group fails with EADDRINUSE",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G);
        const e = assertNetjoinError(
          () => join(fd, a.ifindex, G),
          "EADDRINUSE",
          /already joined/,
        );
        assert.equal(e.operation, "IPV6_JOIN_GROUP");
        assert.equal(e.origin, "kernel");
        assert.equal(e.group, "ff3e::4a:1");
        assert.equal(e.ifaceIdx, a.ifindex);
        assert.equal(e.fd, fd);
        assert.equal(a.users(GHEX), 1);
      })
    ),
);

kernelTest(
  "an any-source join after a source-specific one fails with EADDRINUSE",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1]);
        assertNetjoinError(() => join(fd, a.ifindex, G), "EADDRINUSE");
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "the same (S,G) twice fails with EADDRNOTAVAIL naming the source",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1]);
        const e = assertNetjoinError(
          () => join(fd, a.ifindex, G, [ADDR.s1]),
          "EADDRNOTAVAIL",
        );
        assert.equal(e.source, ADDR.s1);
        assert.equal(e.operation, "MCAST_JOIN_SOURCE_GROUP");
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "the 65th source on one socket and group fails with ENOBUFS and a sysctl hint, leaving nothing joined",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        const sources = Array.from({ length: 65 }, (_, i) => src(i));
        const e = assertNetjoinError(
          () => join(fd, a.ifindex, G, sources),
          "ENOBUFS",
          /mld_max_msf/,
        );
        assert.equal(e.source, src(64));
        assert.match(
          e.message,
          /source 65 of 65; the 64 sources joined before it were left again/,
        );
        assert.match(e.hint!, /64/);
        assert.deepEqual(a.filter(GHEX), []);
        assert.equal(a.users(GHEX), 0);
      })
    ),
);

kernelTest(
  "a first source the option memory cannot hold leaves no INCLUDE{} group behind",
  () =>
    withPair((a) => {
      // optmem_max is per namespace on this kernel: room for the group (56 B)
      // but not for its source list. Linux answers ENOBUFS and, without
      // netjoin's clean-up, keeps the group joined as INCLUDE{}.
      setOptmem(a, 100);
      return withSocket(a, (fd) => {
        const e = assertNetjoinError(
          // inside the namespace, so the hint reads its sysctl
          () => a.enter(() => join(fd, a.ifindex, G, [ADDR.s1, ADDR.s2])),
          "ENOBUFS",
          /optmem_max \(100 bytes/,
        );
        assert.equal(e.source, ADDR.s1);
        assert.equal(a.users(GHEX), 0, "no INCLUDE{} group left joined");
        assert.equal(filterMode(fd, a.ifindex, g), "none");
      });
    }),
);

kernelTest(
  "a group the option memory cannot hold fails with ENOMEM and an optmem hint",
  () =>
    withPair((a) => {
      setOptmem(a, 40);
      return withSocket(a, (fd) => {
        assertNetjoinError(
          () => a.enter(() => join(fd, a.ifindex, G)),
          "ENOMEM",
          /optmem_max \(40 bytes/,
        );
        assertNetjoinError(
          () => join(fd, a.ifindex, G, [ADDR.s1]),
          "ENOMEM",
          /optmem_max/,
        );
        assert.equal(a.users(GHEX), 0);
      });
    }),
);

function setOptmem(host: Host, bytes: number): void {
  host.sysctl("net.core.optmem_max", bytes);
}

kernelTest(
  "a failing first source of a group joined earlier keeps the earlier sources",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, Array.from({ length: 64 }, (_, i) => src(i)));
        assertNetjoinError(() => join(fd, a.ifindex, G, [src(64)]), "ENOBUFS");
        assert.equal(a.filter(GHEX).length, 64);
        assert.equal(filterMode(fd, a.ifindex, g), "INCLUDE{64}");
      })
    ),
);

kernelTest(
  "an unknown interface index fails with ENODEV",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        assertNetjoinError(() => join(fd, 999, G), "ENODEV", /index 999/);
        assertNetjoinError(() => join(fd, 999, G, [ADDR.s1]), "ENODEV");
        assert.equal(a.users(GHEX), 0);
      })
    ),
);

kernelTest("an IPv4 socket fails with ENOPROTOOPT", () =>
  withPair((a) => {
    const fd = a.enter(() => ipv4Socket());
    try {
      assertNetjoinError(() => join(fd, a.ifindex, G), "ENOPROTOOPT");
      assertNetjoinError(
        () => join(fd, a.ifindex, G, [ADDR.s1]),
        "ENOPROTOOPT",
        /not an IPv6 socket/,
      );
    } finally {
      closeSocket(fd);
    }
  }));

kernelTest("a TCP socket fails with EPROTO", () =>
  withPair((a) => {
    const fd = a.enter(() => tcpSocket());
    try {
      assertNetjoinError(
        () => join(fd, a.ifindex, G),
        "EPROTO",
        /not a datagram socket/,
      );
    } finally {
      closeSocket(fd);
    }
  }));

kernelTest("an fd that is not open fails with EBADF", () =>
  withPair((a) => {
    const fd = a.enter(() => openSocket());
    closeSocket(fd);
    assertNetjoinError(() => join(fd, a.ifindex, G), "EBADF");
    assertNetjoinError(() => join(fd, a.ifindex, G, [ADDR.s1]), "EBADF");
  }));

kernelTest(
  "an fd that is not a socket fails with ENOTSOCK",
  () =>
    withPair((a) => {
      const fd = openFile();
      try {
        assertNetjoinError(() => join(fd, a.ifindex, G), "ENOTSOCK");
        assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s1]),
          "ENOTSOCK",
          /not a socket/,
        );
      } finally {
        closeSocket(fd);
      }
    }),
);

kernelTest(
  "leave() of a group not joined fails with EADDRNOTAVAIL",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        assertNetjoinError(() => leave(fd, a.ifindex, G), "EADDRNOTAVAIL");
        assertNetjoinError(() => leave(fd, a.ifindex, G, [ADDR.s1]), "EINVAL");
        join(fd, a.ifindex, G, [ADDR.s1]);
        assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s2]),
          "EADDRNOTAVAIL",
        );
        assert.deepEqual(a.filter(GHEX), [`${S1HEX}:1:0`]);
      })
    ),
);

// all or nothing

kernelTest(
  "a failing k-th source leaves again the sources this call joined, and only those",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s2]);
        const e = assertNetjoinError(
          () => join(fd, a.ifindex, G, [ADDR.s1, src(1), ADDR.s2, src(2)]),
          "EADDRNOTAVAIL",
          /source 3 of 4; the 2 sources joined before it were left again/,
        );
        assert.equal(e.source, ADDR.s2);
        assert.deepEqual(a.filter(GHEX), [`${S2HEX}:1:0`]);
      })
    ),
);

kernelTest(
  "a failing k-th source of a source leave joins the others again",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G, [ADDR.s1, ADDR.s2, src(1)]);
        assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s1, ADDR.s2, src(7)]),
          "EADDRNOTAVAIL",
          /source 3 of 3; the 2 sources left before it were joined again/,
        );
        assert.equal(a.filter(GHEX).length, 3);
        assert.equal(filterMode(fd, a.ifindex, g), "INCLUDE{3}");
        // Leaving every joined source and one more: the group goes with the
        // last joined source, so the kernel answers EINVAL for the extra one.
        assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s1, ADDR.s2, src(1), src(7)]),
          "EINVAL",
          /source 4 of 4; the 3 sources left before it were joined again/,
        );
        assert.equal(filterMode(fd, a.ifindex, g), "INCLUDE{3}");
        assert.equal(a.users(GHEX), 1);
      })
    ),
);

// refused mode switches

kernelTest(
  "an (S,G) join on an any-source membership is refused, not turned into INCLUDE{S}",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G);
        const e = assertNetjoinError(
          () => join(fd, a.ifindex, G, [ADDR.s1]),
          "EADDRINUSE",
          /INCLUDE\{2001:db8:6a::11\}/,
        );
        assert.equal(e.origin, "netjoin");
        assert.equal(a.users(GHEX), 1);
        assert.equal(filterMode(fd, a.ifindex, g), "EXCLUDE{}");
      })
    ),
);

kernelTest(
  "a source leave on an any-source membership is refused, not turned into INCLUDE{}",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        join(fd, a.ifindex, G);
        const e = assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s1]),
          "EADDRNOTAVAIL",
          /stop reception/,
        );
        assert.equal(e.origin, "netjoin");
        assert.equal(a.users(GHEX), 1);
        assert.equal(filterMode(fd, a.ifindex, g), "EXCLUDE{}");
      })
    ),
);

kernelTest(
  "a source leave on an any-source membership made outside netjoin is put back",
  () =>
    withPair((a) =>
      withSocket(a, (fd) => {
        rawJoinAnySource(fd, a.ifindex, g);
        const e = assertNetjoinError(
          () => leave(fd, a.ifindex, G, [ADDR.s1]),
          "EADDRNOTAVAIL",
          /made outside netjoin.*joined it again/,
        );
        assert.equal(e.origin, "kernel");
        assert.equal(filterMode(fd, a.ifindex, g), "EXCLUDE{}");
        assert.equal(a.users(GHEX), 1);
        // netjoin now knows the membership, and guards it.
        assertNetjoinError(
          () => join(fd, a.ifindex, G, [ADDR.s1]),
          "EADDRINUSE",
        );
      })
    ),
);

// Helpers for fds that are not IPv6 UDP sockets.
import { libc, openLibcSymbols } from "../ffi/mod.ts";
function ipv4Socket(): number {
  return libc().symbols.socket(2, 2, 0); // AF_INET, SOCK_DGRAM
}
function tcpSocket(): number {
  return libc().symbols.socket(10, 1, 0); // AF_INET6, SOCK_STREAM
}
function openFile(): number {
  const { symbols } = openLibcSymbols(
    {
      // int open(const char *pathname, int flags);
      open: { parameters: ["buffer", "i32"], result: "i32" },
    } as const,
  );
  return symbols.open(new TextEncoder().encode("/dev/null\0"), 0);
}
