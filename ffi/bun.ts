/**
 * The Bun adapter: binds a symbol table with `bun:ffi`, loaded synchronously
 * the first time a library is opened, so Deno never resolves it.
 *
 * @module
 */
import type {
  BoundSymbols,
  NativeLibrary,
  NativeType,
  SymbolDefinition,
  SymbolTable,
} from "./_symbols.ts";

/** The parts of `bun:ffi` this adapter uses. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...a: unknown[]) => unknown>; close(): void };
  read: { i32(ptr: number, offset: number): number };
  ptr(buffer: Uint8Array): number;
}

const BUN_TYPES: Record<NativeType, string> = {
  i32: "i32",
  u32: "u32",
  isize: "i64_fast",
  usize: "u64_fast",
  buffer: "buffer",
  pointer: "ptr",
};

/** A symbol's `bun:ffi` declaration (`nonblocking` has no Bun equivalent
 * and is ignored). */
export function bunSignature(
  def: SymbolDefinition,
): { args: string[]; returns: string } {
  return {
    args: def.parameters.map((t) => BUN_TYPES[t]),
    returns: BUN_TYPES[def.result],
  };
}

/** Opens the first library of `paths` that loads with `bun:ffi`. */
export function openBun<S extends SymbolTable>(
  paths: readonly string[],
  symbols: S,
  errnoAccessor: string,
): NativeLibrary<S> {
  const ffi = (import.meta as unknown as { require(id: string): BunFfi })
    .require("bun:ffi");
  // bun:ffi binds by C name. A C name bound twice with different
  // signatures (setsockopt and setsockopt_ptr) goes into a second table,
  // opened by a second dlopen of the same library.
  type Table = Record<string, { args: string[]; returns: string }>;
  const tables: Table[] = [{ [errnoAccessor]: { args: [], returns: "ptr" } }];
  const tableOf: Record<string, number> = {};
  for (const [key, def] of Object.entries(symbols)) {
    const name = def.name ?? key;
    const signature = bunSignature(def);
    let i = tables.findIndex((t) =>
      !(name in t) ||
      JSON.stringify(t[name]) === JSON.stringify(signature)
    );
    if (i < 0) i = tables.push({}) - 1;
    tables[i][name] = signature;
    tableOf[key] = i;
  }
  const errors: string[] = [];
  for (const path of paths) {
    let libs: ReturnType<BunFfi["dlopen"]>[];
    try {
      libs = tables.map((t) => ffi.dlopen(path, t));
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message}`);
      continue;
    }
    const where = libs[0].symbols[errnoAccessor]() as number;
    if (!where) throw new Error("The errno accessor returned NULL");
    const read = ffi.read.i32;
    const bound: Record<string, unknown> = {};
    for (const [key, def] of Object.entries(symbols)) {
      bound[key] = libs[tableOf[key]].symbols[def.name ?? key];
    }
    return {
      symbols: bound as BoundSymbols<S>,
      errno: () => read(where, 0),
      pointerOf: (buffer) => ffi.ptr(buffer),
      close: () => libs.forEach((lib) => lib.close()),
    };
  }
  throw new Error(`Could not open libc (${errors.join("; ")})`);
}
