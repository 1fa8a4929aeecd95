import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { scrypt } from "@noble/hashes/scrypt.js";
import {
  deriveMasterKey,
  KeyError,
  type KeyErrorCode,
  MASTER_KEY_LENGTH,
  MAX_KEY_FILE_BYTES,
  resolveKey,
  SCRYPT_PARAMS,
  SCRYPT_SALT,
} from "../../../src/crypto/key.js";

const dir = mkdtempSync(join(tmpdir(), "left-key-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function assertKeyError(result: ReturnType<typeof resolveKey>, code: KeyErrorCode): void {
  assert.ok(result instanceof KeyError, `expected KeyError ${code}, got ${JSON.stringify(result)}`);
  assert.equal(result.code, code);
}

describe("resolveKey", () => {
  it("takes --key, then LEFT_KEY, as UTF-8", () => {
    assert.deepEqual(resolveKey({ key: "grüne Wiese", env: { LEFT_KEY: "env" } }), {
      passphrase: utf8("grüne Wiese"),
      source: "flag",
    });
    assert.deepEqual(resolveKey({ env: { LEFT_KEY: "from env" } }), {
      passphrase: utf8("from env"),
      source: "env",
    });
  });

  it("takes a key file's bytes without trailing line breaks, before LEFT_KEY", () => {
    const path = keyFile("key.txt", "correct horse\r\n\n");
    assert.deepEqual(resolveKey({ keyFile: path, env: { LEFT_KEY: "env" } }), {
      passphrase: utf8("correct horse"),
      source: "file",
    });
    const binary = Uint8Array.from([0, 255, 10, 13, 7]);
    const resolved = resolveKey({ keyFile: keyFile("key.bin", binary) });
    assert.ok(resolved !== null && !(resolved instanceof KeyError));
    assert.deepEqual(resolved.passphrase, binary);
  });

  it("returns null without a key when none is required, an error when one is", () => {
    assert.equal(resolveKey({ env: {} }), null);
    assert.equal(resolveKey({}), null);
    assertKeyError(resolveKey({ env: {}, required: true }), "missing");
  });

  it("refuses --key together with --key-file", () => {
    assertKeyError(resolveKey({ key: "a", keyFile: keyFile("both", "b") }), "conflict");
  });

  it("refuses empty keys from every source instead of falling back to plaintext", () => {
    assertKeyError(resolveKey({ key: "" }), "empty");
    assertKeyError(resolveKey({ env: { LEFT_KEY: "" } }), "empty");
    assertKeyError(resolveKey({ keyFile: keyFile("empty", "") }), "empty");
    assertKeyError(resolveKey({ keyFile: keyFile("newline", "\n") }), "empty");
  });

  it("reports unreadable and oversized key files", () => {
    assertKeyError(resolveKey({ keyFile: join(dir, "does-not-exist") }), "unreadable");
    const sub = join(dir, "a-directory");
    mkdirSync(sub);
    assertKeyError(resolveKey({ keyFile: sub }), "unreadable");
    const atLimit = resolveKey({ keyFile: keyFile("limit", "k".repeat(MAX_KEY_FILE_BYTES)) });
    assert.ok(atLimit !== null && !(atLimit instanceof KeyError));
    assert.equal(atLimit.passphrase.length, MAX_KEY_FILE_BYTES);
    assertKeyError(resolveKey({ keyFile: keyFile("big", "k".repeat(MAX_KEY_FILE_BYTES + 1)) }), "too-large");
  });
});

describe("deriveMasterKey", () => {
  it("is scrypt with the documented salt and parameters", async () => {
    const passphrase = utf8("correct horse battery staple");
    const key = await deriveMasterKey(passphrase);
    assert.equal(key.length, MASTER_KEY_LENGTH);
    const reference = scrypt(passphrase, SCRYPT_SALT, { ...SCRYPT_PARAMS, dkLen: MASTER_KEY_LENGTH });
    assert.deepEqual(new Uint8Array(key), reference);
  });

  it("gives different passphrases different keys", async () => {
    const [a, b] = await Promise.all([deriveMasterKey(utf8("one")), deriveMasterKey(utf8("two"))]);
    assert.notDeepEqual(new Uint8Array(a), new Uint8Array(b));
  });
});
