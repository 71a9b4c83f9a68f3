import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixturePath } from "../../test/support/paths.js";
import { Rng } from "../tensor/rng.js";
import { BYTE_TO_CHAR, toWellFormed } from "./byte-level.js";
import { randomTrickyText } from "./random-text.js";
import { Tokenizer } from "./tokenizer.js";

const tok = Tokenizer.fromTiktoken(readFileSync(fixturePath("meta", "meta-tiny-scaled", "tokenizer.model"), "utf8"));
const byteIds = Array.from({ length: 256 }, (_, b) => tok.tokenToId(BYTE_TO_CHAR[b]!)!);

/** Random ids: whole vocabulary, single bytes (lead and continuation bytes that split characters),
 * slices of encoded text, special tokens. */
function randomIds(rng: Rng): number[] {
  const ids: number[] = [];
  for (let n = 1 + rng.int(30); n > 0; n--) {
    switch (rng.int(5)) {
      case 0:
        ids.push(rng.int(tok.vocabSize));
        break;
      case 1:
        ids.push(byteIds[0x80 + rng.int(0x80)]!);
        break;
      case 2:
        ids.push(byteIds[rng.int(256)]!);
        break;
      case 3:
        ids.push(...tok.encode(randomTrickyText(rng, { maxFragments: 3 }), { addSpecialTokens: false }).slice(rng.int(3)));
        break;
      default:
        ids.push(128000 + rng.int(256));
    }
  }
  return ids;
}

function streamed(ids: readonly number[], skipSpecialTokens: boolean): string[] {
  const stream = tok.createDecodeStream({ skipSpecialTokens });
  const chunks = ids.map((id) => stream.push(id));
  chunks.push(stream.flush());
  return chunks;
}

test("streaming decode equals batch decode on random id sequences, valid UTF-8 or not", () => {
  const rng = new Rng(8080);
  for (let i = 0; i < 3000; i++) {
    const ids = randomIds(rng);
    for (const skipSpecialTokens of [false, true]) {
      assert.equal(streamed(ids, skipSpecialTokens).join(""), tok.decode(ids, { skipSpecialTokens }), `ids ${ids.join(",")}`);
    }
  }
});

test("streaming never emits half a character: chunks of valid text hold no U+FFFD or lone surrogate", () => {
  const rng = new Rng(9090);
  for (let i = 0; i < 1000; i++) {
    const text = randomTrickyText(rng);
    // Byte by byte is the worst case: every multi-byte character is split across pushes.
    const bytes = new TextEncoder().encode(text);
    for (const ids of [tok.encode(text, { addSpecialTokens: false }), Array.from(bytes, (b) => byteIds[b]!)]) {
      const chunks = streamed(ids, false);
      assert.equal(chunks.join(""), text);
      for (const chunk of chunks) {
        assert.ok(!chunk.includes("\ufffd") || text.includes("\ufffd"), JSON.stringify(chunk));
        assert.equal(toWellFormed(chunk), chunk, "a lone surrogate was emitted");
      }
    }
  }
});

test("flush emits a trailing incomplete character as U+FFFD and resets the stream", () => {
  const stream = tok.createDecodeStream();
  assert.equal(stream.push(byteIds[0xf0]!), "");
  assert.equal(stream.push(byteIds[0x9f]!), "");
  assert.equal(stream.flush(), "\ufffd");
  assert.equal(stream.push(byteIds[0x41]!), "A");
  assert.equal(stream.flush(), "");
});
