import { test } from "node:test";
import assert from "node:assert/strict";
import { FormatError } from "../errors.js";
import { parseTiktokenBpe } from "./load-tiktoken.js";

/** A valid file: the 256 single bytes, then "ab" and " a". */
function validLines(): string[] {
  const lines: string[] = [];
  for (let b = 0; b < 256; b++) lines.push(`${Buffer.from([b]).toString("base64")} ${b}`);
  lines.push(`${Buffer.from("ab").toString("base64")} 256`, `${Buffer.from(" a").toString("base64")} 257`);
  return lines;
}

test("a tiktoken file loads with ids = ranks, in any line order, CRLF or LF", () => {
  const lines = validLines();
  const table = parseTiktokenBpe(lines.join("\n") + "\n", "t.model");
  assert.equal(table.size, 258);
  assert.deepEqual(Array.from(table.bytes(256)), [0x61, 0x62]);
  const shuffled = parseTiktokenBpe([...lines].reverse().join("\r\n"), "t.model");
  assert.deepEqual(Array.from(shuffled.bytes(257)), [0x20, 0x61]);
});

test("malformed tiktoken files are FormatErrors naming the file, the line and the problem", () => {
  const withLine = (index: number, line: string): string => {
    const lines = validLines();
    lines[index] = line;
    return lines.join("\n");
  };
  const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["no rank", withLine(3, "AQ=="), /line 4: expected "<base64 token> <rank>"/],
    ["bad base64", withLine(10, "A*== 10"), /line 11: the token is not base64/],
    ["bad padding", withLine(10, "A=A= 10"), /line 11: the token is not base64/],
    ["bad rank", withLine(5, "BQ== five"), /line 6: the rank is not a non-negative integer/],
    ["extra field", withLine(5, "BQ== 5 x"), /line 6: the rank is not a non-negative integer/],
    ["duplicate rank", withLine(257, `${Buffer.from("zz").toString("base64")} 256`), /line 258: duplicate rank 256 \(also on line 257\)/],
    ["duplicate token", withLine(257, `${Buffer.from("ab").toString("base64")} 257`), /line 258: duplicate token \(same bytes as rank 256 on line 257\)/],
    ["missing rank", withLine(257, `${Buffer.from(" a").toString("base64")} 300`), /rank 257 is missing/],
    ["rank over limit", withLine(257, `${Buffer.from(" a").toString("base64")} 99999999`), /exceeds the limit MAX_BPE_TOKENS/],
    ["missing byte", validLines().slice(1).map((l, k) => l.replace(/ \d+$/, ` ${k}`)).join("\n"), /byte 0x00 has no token/],
    ["empty", "\n\n", /no tokens/],
  ];
  for (const [name, text, message] of cases) {
    assert.throws(
      () => parseTiktokenBpe(text, "dir/tokenizer.model"),
      (e: unknown) => e instanceof FormatError && e.path === "dir/tokenizer.model" && message.test(e.message),
      name,
    );
  }
});
