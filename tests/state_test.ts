// The per-fd bookkeeping keeps the right state for many groups, through
// sweeps of left groups, without a kernel.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ANY_SOURCE, forgetFd, getState, lookup, setState } from "../_state.ts";

function group(i: number): Uint8Array {
  const g = new Uint8Array(16);
  g[0] = 0xff;
  g[1] = 0x3e;
  new DataView(g.buffer).setUint32(12, i);
  return g;
}

/** Records a state the way join and leave do: after a lookup. */
function record(fd: number, ifaceIdx: number, g: Uint8Array, state: number) {
  setState(fd, ifaceIdx, g, state, lookup(fd, ifaceIdx, g));
}

test("the bookkeeping tells 5 000 groups on two interfaces apart", () => {
  const fd = 1_000_001;
  for (let i = 0; i < 5000; i++) {
    record(fd, 1, group(i), i % 3 === 0 ? ANY_SOURCE : i % 7 + 1);
    record(fd, 2, group(i), 9);
  }
  for (let i = 0; i < 5000; i++) {
    assert.equal(
      getState(fd, 1, group(i)),
      i % 3 === 0 ? ANY_SOURCE : i % 7 + 1,
    );
    assert.equal(getState(fd, 2, group(i)), 9);
  }
  assert.equal(getState(fd + 1, 1, group(1)), 0, "another fd holds nothing");
  forgetFd(fd);
  assert.equal(getState(fd, 1, group(1)), 0);
});

test("the bookkeeping keeps joined groups through sweeps of left ones", () => {
  const fd = 1_000_003;
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 2000; i++) record(fd, 1, group(i), 1);
    // leave all odd groups: idle entries pass the sweep threshold
    for (let i = 1; i < 2000; i += 2) record(fd, 1, group(i), 0);
    for (let i = 0; i < 2000; i++) {
      assert.equal(getState(fd, 1, group(i)), i % 2 === 0 ? 1 : 0);
    }
  }
  forgetFd(fd);
});
