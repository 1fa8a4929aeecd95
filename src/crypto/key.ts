/**
 * The pre-shared key: where it comes from (`--key`, `--key-file`, env `LEFT_KEY`) and how the passphrase
 * is stretched into the 32-byte master key. The passphrase never leaves the host; peers derive the
 * same master key independently, so salt and parameters are fixed constants of the protocol.
 */
import { scrypt } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";

export const KEY_ENV_VAR = "LEFT_KEY";
/** Larger key files are refused before anything is allocated for them. */
export const MAX_KEY_FILE_BYTES = 4096;

/** scrypt cost: ≈200 ms and 32 MiB once per start on this machine (docs/SECURITY.md). */
export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
/** Fixed salt (a domain separator): both sides must derive the same key without talking. */
export const SCRYPT_SALT = "left v1 pre-shared key";
export const MASTER_KEY_LENGTH = 32;

export type KeySource = "flag" | "env" | "file";

export interface ResolvedKey {
  /** UTF-8 bytes of `--key`/`LEFT_KEY`, or the key file's bytes without trailing line breaks. */
  passphrase: Uint8Array;
  source: KeySource;
}

export type KeyErrorCode = "missing" | "conflict" | "empty" | "unreadable" | "too-large";

export class KeyError extends Error {
  override readonly name = "KeyError";
  constructor(
    readonly code: KeyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface KeyInputs {
  /** `--key <passphrase>` */
  key?: string | undefined;
  /** `--key-file <path>` */
  keyFile?: string | undefined;
  /** Usually `process.env`; read only for `LEFT_KEY`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The user asked for encryption: a missing key is then an error, not plaintext mode. */
  required?: boolean;
}

/**
 * Finds the passphrase. Flags beat the environment; `--key` with `--key-file` is a conflict. Returns
 * null when no key is given and none is required (plaintext mode). An empty key is always an error:
 * silently falling back to plaintext would be the worst reading of a typo.
 */
export function resolveKey(inputs: KeyInputs): ResolvedKey | KeyError | null {
  if (inputs.key !== undefined && inputs.keyFile !== undefined) {
    return new KeyError("conflict", "give either --key or --key-file, not both");
  }
  if (inputs.keyFile !== undefined) return readKeyFile(inputs.keyFile);
  if (inputs.key !== undefined) return fromString(inputs.key, "flag", "--key");
  const fromEnv = inputs.env?.[KEY_ENV_VAR];
  if (fromEnv !== undefined) return fromString(fromEnv, "env", KEY_ENV_VAR);
  if (inputs.required) {
    return new KeyError(
      "missing",
      `encryption requested but no key: use --key-file, ${KEY_ENV_VAR} or --key`,
    );
  }
  return null;
}

function fromString(value: string, source: KeySource, what: string): ResolvedKey | KeyError {
  if (value.length === 0) return new KeyError("empty", `${what} is empty`);
  return { passphrase: new TextEncoder().encode(value), source };
}

function readKeyFile(path: string): ResolvedKey | KeyError {
  // One byte more than allowed tells "exactly at the limit" from "too large" without trusting stat
  // (the file may be a pipe or grow while we read).
  const buf = new Uint8Array(MAX_KEY_FILE_BYTES + 1);
  let length = 0;
  try {
    const fd = openSync(path, "r");
    try {
      while (length < buf.length) {
        const n = readSync(fd, buf, length, buf.length - length, null);
        if (n === 0) break;
        length += n;
      }
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    return new KeyError("unreadable", `cannot read key file ${path}: ${code}`);
  }
  if (length > MAX_KEY_FILE_BYTES) {
    return new KeyError("too-large", `key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  }
  // Editors and `echo` add a final newline; it must not make two hosts' keys differ.
  while (length > 0 && (buf[length - 1] === 0x0a || buf[length - 1] === 0x0d)) length--;
  if (length === 0) return new KeyError("empty", `key file ${path} is empty`);
  return { passphrase: buf.slice(0, length), source: "file" };
}

/** Stretches the passphrase into the master key, on libuv's thread pool so the event loop stays free. */
export function deriveMasterKey(passphrase: Uint8Array): Promise<Uint8Array> {
  const { N, r, p } = SCRYPT_PARAMS;
  // scrypt needs 128·N·r bytes plus a little; Node's default cap is exactly 128·N·r, which OpenSSL refuses.
  const maxmem = 2 * 128 * N * r;
  return new Promise((resolve, reject) => {
    scrypt(passphrase, SCRYPT_SALT, MASTER_KEY_LENGTH, { N, r, p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}
