/**
 * {@linkcode NetjoinError}: what netjoin throws when the kernel refuses a
 * call, or when netjoin refuses one the kernel would get silently wrong.
 *
 * @example Telling the kernel's limit apart from other failures
 * ```ts ignore
 * import { join, NetjoinError } from "@netjoin/netjoin";
 *
 * try {
 *   join(fd, ifaceIdx, "ff3e::1234", sources);
 * } catch (error) {
 *   if (error instanceof NetjoinError && error.code === "ENOBUFS") {
 *     // too many sources on one socket and group: use another socket
 *   }
 *   throw error;
 * }
 * ```
 *
 * @module
 */

/** Who refused a call. */
export type NetjoinErrorOrigin = "kernel" | "netjoin";

/** What a {@linkcode NetjoinError} carries besides its message. */
export interface NetjoinErrorDetails {
  /** The errno name, e.g. `"ENOBUFS"`. */
  code: string;
  /** The errno number on the running platform. */
  errno: number;
  /** The failing operation, e.g. `"MCAST_JOIN_SOURCE_GROUP"` or `"bind"`. */
  operation: string;
  /** The socket's file descriptor, when one was involved. */
  fd?: number;
  /** The interface index, when one was involved. */
  ifaceIdx?: number;
  /** The group, as canonical text, when one was involved. */
  group?: string;
  /** The source, as canonical text, when one was involved. */
  source?: string;
  /** What to do about it, where a known cause applies. */
  hint?: string;
  /** `"kernel"` when the system call failed, `"netjoin"` when netjoin
   * refused a call the kernel would have carried out wrongly. */
  origin?: NetjoinErrorOrigin;
}

/**
 * A refusal by the kernel (or, with `origin: "netjoin"`, by netjoin guarding
 * a kernel trap), with the errno name and number and what was involved.
 *
 * @example
 * ```ts ignore
 * import { NetjoinError } from "@netjoin/netjoin";
 *
 * const error = new NetjoinError("Joining failed", {
 *   code: "ENODEV",
 *   errno: 19,
 *   operation: "IPV6_JOIN_GROUP",
 * });
 * console.log(error.code); // "ENODEV"
 * ```
 */
export class NetjoinError extends Error {
  /** The errno name, e.g. `"ENOBUFS"`. */
  readonly code: string;
  /** The errno number on the running platform. */
  readonly errno: number;
  /** The failing operation, e.g. `"MCAST_JOIN_SOURCE_GROUP"`. */
  readonly operation: string;
  /** The socket's file descriptor, when one was involved. */
  readonly fd: number | undefined;
  /** The interface index, when one was involved. */
  readonly ifaceIdx: number | undefined;
  /** The group as canonical text, when one was involved. */
  readonly group: string | undefined;
  /** The source as canonical text, when one was involved. */
  readonly source: string | undefined;
  /** What to do about it, where a known cause applies. */
  readonly hint: string | undefined;
  /** Who refused: the kernel, or netjoin guarding a kernel trap. */
  readonly origin: NetjoinErrorOrigin;

  /** Makes an error; the hint, when given, is appended to the message. */
  constructor(message: string, details: NetjoinErrorDetails) {
    super(details.hint ? `${message}. ${details.hint}` : message);
    this.name = "NetjoinError";
    this.code = details.code;
    this.errno = details.errno;
    this.operation = details.operation;
    this.fd = details.fd;
    this.ifaceIdx = details.ifaceIdx;
    this.group = details.group;
    this.source = details.source;
    this.hint = details.hint;
    this.origin = details.origin ?? "kernel";
  }
}
