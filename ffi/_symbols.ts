/**
 * The one table of libc symbols netjoin binds, shared by the Deno and Bun
 * adapters. Each entry carries the C prototype it binds.
 *
 * @module
 */

/**
 * libc functions netjoin calls, in `Deno.dlopen` form. The Bun adapter
 * translates the same table to `bun:ffi`.
 */
export const LIBC_SYMBOLS = {
  // int socket(int domain, int type, int protocol);
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // int setsockopt(int sockfd, int level, int optname,
  //                const void *optval, socklen_t optlen);
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  // The same setsockopt(2) with optval as a pointer, for long-lived buffers
  // whose address is taken once (Libc.pointerOf): join and leave pass their
  // struct buffers so, because Deno makes a call with a pointer argument
  // 15-20 ns faster than one with a buffer argument.
  setsockopt_ptr: {
    name: "setsockopt",
    parameters: ["i32", "i32", "i32", "pointer", "u32"],
    result: "i32",
  },
  // int getsockopt(int sockfd, int level, int optname,
  //                void *optval, socklen_t *optlen);
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  // int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen);
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // unsigned int if_nametoindex(const char *ifname);
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  // ssize_t sendto(int sockfd, const void *buf, size_t len, int flags,
  //                const struct sockaddr *dest_addr, socklen_t addrlen);
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  // ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags,
  //                  struct sockaddr *src_addr, socklen_t *addrlen);
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  // ssize_t send(int sockfd, const void *buf, size_t len, int flags);
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // int socketpair(int domain, int type, int protocol, int sv[2]);
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  // nfds_t is unsigned long on Linux, unsigned int on the BSDs: passing a
  // usize is right for both on the 64-bit ABIs netjoin supports.
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
  // The same poll(2), run by Deno on its FFI thread pool so the event loop
  // stays free while it blocks: Deno returns a Promise. errno of a failing
  // call belongs to that other thread and cannot be read. Bun ignores the
  // flag and would block: netjoin calls it only under Deno.
  poll_nonblocking: {
    name: "poll",
    parameters: ["buffer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The shape of a symbol table the adapters accept. */
export type SymbolTable = Record<string, SymbolDefinition>;

/** Native types the adapters know how to bind. */
export type NativeType =
  | "i32"
  | "u32"
  | "isize"
  | "usize"
  | "buffer"
  | "pointer";

/** One function of a symbol table. */
export interface SymbolDefinition {
  /** The C name when it differs from the table key. */
  readonly name?: string;
  /** Parameter types in order. */
  readonly parameters: readonly NativeType[];
  /** Result type. */
  readonly result: NativeType;
  /** Deno only: run the call on Deno's FFI thread pool and return a
   * Promise. Bun has no such mode: its adapter ignores the flag and binds a
   * blocking call, so call such a symbol only under Deno. */
  readonly nonblocking?: boolean;
}

type JsType<T extends NativeType> = T extends "buffer" ? Uint8Array
  : T extends "pointer" ? unknown
  : number;

type JsParams<P extends readonly NativeType[]> = {
  [K in keyof P]: P[K] extends NativeType ? JsType<P[K]> : never;
};

/** A function's JS result: a Promise too where it may be `nonblocking`. */
type JsResult<D extends SymbolDefinition> = D extends { nonblocking: true }
  ? JsType<D["result"]> | Promise<JsType<D["result"]>>
  : JsType<D["result"]>;

/** The callable functions of a bound symbol table. */
export type BoundSymbols<S extends SymbolTable> = {
  readonly [K in keyof S]: (
    ...args: JsParams<S[K]["parameters"]>
  ) => JsResult<S[K]>;
};

/** A library opened by one of the runtime adapters. */
export interface NativeLibrary<S extends SymbolTable> {
  /** The bound functions. Sizes (`isize`, `usize`) are plain numbers. */
  readonly symbols: BoundSymbols<S>;
  /** Reads the calling thread's errno; call it right after a failing call. */
  readonly errno: () => number;
  /**
   * The address of `buffer`, as a `"pointer"` argument takes it. It stays
   * right only while `buffer` is alive and its memory does not move: take
   * it of a view into an `ArrayBuffer` of at least 64 bytes made with
   * `new ArrayBuffer(n)` (smaller typed arrays may live on the JS heap), and
   * keep that buffer referenced for as long as the address is used.
   */
  readonly pointerOf: (buffer: Uint8Array) => unknown;
  /** Closes the library. */
  close(): void;
}

/**
 * Opens the first of `paths` that loads, binding `symbols` and the errno
 * accessor named `errnoAccessor` (`__errno_location` or `__error`).
 */
export type OpenLibrary = <S extends SymbolTable>(
  paths: readonly string[],
  symbols: S,
  errnoAccessor: string,
) => NativeLibrary<S>;
