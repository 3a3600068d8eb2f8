/**
 * The Deno adapter: binds a symbol table with `Deno.dlopen`.
 *
 * @module
 */
import type { BoundSymbols, NativeLibrary, SymbolTable } from "./_symbols.ts";

/**
 * Opens the first library of `paths` that loads with `Deno.dlopen`.
 * Needs `--allow-ffi`.
 */
export function openDeno<S extends SymbolTable>(
  paths: readonly string[],
  symbols: S,
  errnoAccessor: string,
): NativeLibrary<S> {
  const table: Record<string, Deno.ForeignFunction> = {
    __netjoin_errno: { name: errnoAccessor, parameters: [], result: "pointer" },
  };
  for (const [key, def] of Object.entries(symbols)) {
    table[key] = {
      ...(def.name === undefined ? {} : { name: def.name }),
      parameters: [...def.parameters],
      result: def.result,
      ...(def.nonblocking ? { nonblocking: true } : {}),
    };
  }
  const errors: string[] = [];
  for (const path of paths) {
    let lib: Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>>;
    try {
      lib = Deno.dlopen(path, table);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      errors.push(`${path}: ${(error as Error).message}`);
      continue;
    }
    const fns = lib.symbols as Record<string, (...a: unknown[]) => unknown>;
    // errno lives at a fixed address per thread; JS runs on one thread.
    const where = fns.__netjoin_errno() as Deno.PointerValue;
    if (where === null) throw new Error("The errno accessor returned NULL");
    const view = new Deno.UnsafePointerView(where);
    const bound: Record<string, unknown> = {};
    for (const [key, def] of Object.entries(symbols)) {
      const fn = fns[key];
      // 64-bit results arrive as bigint only outside the safe range.
      const wide = def.result === "isize" || def.result === "usize";
      bound[key] = !wide
        ? fn
        : def.nonblocking
        ? (...args: unknown[]) => (fn(...args) as Promise<unknown>).then(Number)
        : (...args: unknown[]) => Number(fn(...args));
    }
    return {
      symbols: bound as BoundSymbols<S>,
      errno: () => view.getInt32(0),
      pointerOf: (buffer) => Deno.UnsafePointer.of(buffer),
      close: () => lib.close(),
    };
  }
  throw new Error(`Could not open libc (${errors.join("; ")})`);
}
