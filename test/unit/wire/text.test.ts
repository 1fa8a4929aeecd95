import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeText, encodeBoundedText } from "../../../src/wire/text.js";

test("a peer's text cannot carry control characters into our log", () => {
  const forged = encodeBoundedText("bye\n2026-01-01T00:00:00Z INFO  fake line\r\u0007", 255);
  const text = decodeText(forged);
  assert.doesNotMatch(text, /\p{Cc}/u);
  assert.equal(text, "bye\uFFFD2026-01-01T00:00:00Z INFO  fake line\uFFFD\uFFFD");
});

test("bounded text is cut on a character boundary", () => {
  const bytes = encodeBoundedText("ééé", 5);
  assert.equal(decodeText(bytes), "éé");
});
