/**
 * The runtime-neutral native interface: libc opened once, lazily, through the
 * Deno or the Bun adapter, chosen by the runtime that runs this code.
 *
 * @module
 */
import { detectPlatform, type Platform } from "../_platform.ts";
import { openBun } from "./bun.ts";
import { openDeno } from "./deno.ts";
import type { BoundSymbols, OpenLibrary, SymbolTable } from "./_symbols.ts";
import { LIBC_SYMBOLS } from "./_symbols.ts";

export type { BoundSymbols, SymbolTable } from "./_symbols.ts";

/** libc as netjoin uses it: its functions, errno, and the platform facts. */
export interface Libc {
  /** The bound libc functions of {@linkcode LIBC_SYMBOLS}. */
  readonly symbols: BoundSymbols<typeof LIBC_SYMBOLS>;
  /** Reads errno of the calling thread; call right after the failing call. */
  readonly errno: () => number;
  /** Constants and layouts of the running platform. */
  readonly platform: Platform;
  /** The address of a long-lived buffer, for a `"pointer"` argument. It
   * stays right only while the buffer is alive and does not move: see
   * `NativeLibrary.pointerOf` in ffi/_symbols.ts. */
  readonly pointerOf: (buffer: Uint8Array) => unknown;
}

let loaded: Libc | undefined;

/**
 * Returns libc, opening it on first use. Throws when the platform or the
 * runtime is unsupported; in Deno, needs `--allow-ffi`.
 */
export function libc(): Libc {
  return loaded ??= openLibc();
}

function openLibc(): Libc {
  const platform = detectPlatform();
  const lib = runtimeAdapter()(
    [platform.library, ...platform.libraryFallbacks],
    LIBC_SYMBOLS,
    platform.errnoSymbol,
  );
  return {
    symbols: lib.symbols,
    errno: lib.errno,
    platform,
    pointerOf: lib.pointerOf,
  };
}

const intValue = new Uint8Array(4);
const intView = new DataView(intValue.buffer);

/**
 * `setsockopt` with an `int` value, the form most socket options take.
 * Returns what `setsockopt` returned: 0, or -1 with errno set.
 */
export function setsockoptInt(
  n: Libc,
  fd: number,
  level: number,
  name: number,
  value: number,
): number {
  intView.setInt32(0, value, true); // every platform netjoin runs on is little-endian
  return n.symbols.setsockopt(fd, level, name, intValue, 4);
}

/**
 * Opens extra symbols of the platform's libc with the runtime's adapter (the
 * tests use it for `setns` and `open`).
 */
export function openLibcSymbols<S extends SymbolTable>(
  symbols: S,
): { symbols: BoundSymbols<S>; errno: () => number } {
  const platform = detectPlatform();
  return runtimeAdapter()(
    [platform.library, ...platform.libraryFallbacks],
    symbols,
    platform.errnoSymbol,
  );
}

/** The adapter for the running runtime: Bun first, then Deno. */
function runtimeAdapter(): OpenLibrary {
  if ("Bun" in globalThis) return openBun;
  if ("Deno" in globalThis) return openDeno;
  throw new Error(
    "Unsupported runtime: netjoin needs the FFI of Deno or Bun",
  );
}
