/**
 * What the sync model needs from the layers below it, as narrow interfaces: the real IndexDb and
 * LocalFolder satisfy them, and unit tests substitute small in-memory fakes.
 */
import type { IndexDb } from "../index/db.js";
import type { FileInfo } from "../index/types.js";

export type SyncIndex = Pick<
  IndexDb,
  | "deviceId"
  | "getLocal"
  | "localFileDigest"
  | "getStat"
  | "localFiles"
  | "localSince"
  | "localSequence"
  | "putRemote"
  | "getRemote"
  | "remoteFiles"
  | "remoteSequence"
  | "remoteDevices"
  | "devicesHaving"
  | "findBlock"
  | "findBlocks"
  | "getPartial"
  | "startPartial"
  | "markBlocksDone"
  | "dropPartial"
  | "partials"
>;

/** The scanner-backed local view: how pulled content is recorded without being mistaken for a local edit. */
export interface SyncFolder {
  /** Stores a version this host obtained from a peer (stat taken from disk), under a new local sequence. */
  recordPulled(info: Omit<FileInfo, "sequence">): Promise<FileInfo>;
  /** The scanner ignores `path` until release(path): LEFT itself is writing it. */
  hold(path: string): void;
  release(path: string): void;
  /** Local changes are still being scanned, hashed or recorded: not in sync yet. */
  busy(): boolean;
  on(event: "changed", listener: (files: FileInfo[]) => void): unknown;
}
