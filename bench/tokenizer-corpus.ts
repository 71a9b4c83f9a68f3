// The tokenizer benchmark's corpus: deterministic, mixed, at least 10 MB, built only from files that
// ship in node_modules (no downloads) and seeded generation:
// - English prose: the JSDoc comments of the TypeScript and Node type definitions;
// - multilingual prose: TypeScript's translated compiler messages (cs de es fr it ja ko pl pt-br ru tr
//   zh-cn zh-tw), which brings CJK, Cyrillic and accented Latin;
// - code: the .d.ts files themselves and a slice of typescript.js;
// - generated with the seeded Rng: CJK text drawn Zipf-like from the vocabulary's CJK tokens, chat
//   text with emoji (ZWJ sequences, skin tones, flags), numbers and tables, whitespace-heavy text, and
//   the conformance tests' tricky text.
// The corpus is cut into documents of at most 64 KiB, shuffled with a fixed seed.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Rng } from "../src/tensor/rng.js";
import type { Tokenizer } from "../src/tokenizer/index.js";
import { randomTrickyText } from "../src/tokenizer/random-text.js";

/** Largest document handed to an encoder in one call. */
const DOCUMENT_CHARS = 64 * 1024;

export interface Corpus {
  readonly documents: readonly string[];
  readonly byteLength: number;
  /** UTF-8 bytes per source kind, for the report. */
  readonly bytesByKind: ReadonlyMap<string, number>;
}

function typescriptLib(): string {
  return dirname(createRequire(import.meta.url).resolve("typescript"));
}

/** Files under `dir` whose name ends with `suffix`, recursively, in sorted order. */
function filesUnder(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, suffix));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out;
}

function englishProse(declarations: readonly string[]): string {
  const lines: string[] = [];
  for (const text of declarations) {
    for (const line of text.split("\n")) {
      const m = /^\s*\*\s+(.*[a-z].*)$/.exec(line);
      if (m !== null && !m[1]!.startsWith("@")) lines.push(m[1]!);
    }
  }
  return lines.join("\n");
}

function translatedMessages(): string {
  const lib = typescriptLib();
  const parts: string[] = [];
  for (const lang of ["cs", "de", "es", "fr", "it", "ja", "ko", "pl", "pt-br", "ru", "tr", "zh-cn", "zh-tw"]) {
    const messages = JSON.parse(readFileSync(join(lib, lang, "diagnosticMessages.generated.json"), "utf8")) as Record<string, string>;
    parts.push(Object.values(messages).join("\n"));
  }
  return parts.join("\n\n");
}

/** CJK prose: single-character CJK tokens of the vocabulary, Zipf-weighted by rank (id). */
function cjkText(rng: Rng, tokenizer: Tokenizer, chars: number): string {
  const alphabet: string[] = [];
  for (let id = 0; id < tokenizer.bosTokenId; id++) {
    const text = tokenizer.decode([id]);
    if (/^[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7a3]$/u.test(text)) alphabet.push(text);
  }
  let s = "";
  while (s.length < chars) {
    // u^3 skews towards low ranks (frequent characters), like natural text.
    s += alphabet[Math.floor(rng.uniform() ** 3 * alphabet.length)]!;
    const r = rng.int(40);
    if (r === 0) s += "。";
    else if (r === 1) s += "，";
    else if (r === 2) s += "\n";
  }
  return s;
}

const EMOJI = ["😀", "😂", "👍", "👍🏽", "🙏🏿", "❤️", "🔥", "🦙", "🎉", "👨‍👩‍👧‍👦", "🧑‍💻", "🏳️‍🌈", "🇯🇵", "🇧🇷", "✨", "🤔"];
const CHAT_WORDS = ["lol", "see", "you", "tomorrow", "great", "job", "thanks", "what", "is", "this", "omg", "yes", "no", "party", "time", "love", "it"];

function emojiChat(rng: Rng, chars: number): string {
  let s = "";
  while (s.length < chars) {
    for (let n = 1 + rng.int(8); n > 0; n--) s += (rng.int(2) === 0 ? " " : "") + CHAT_WORDS[rng.int(CHAT_WORDS.length)]!;
    for (let n = rng.int(4); n > 0; n--) s += EMOJI[rng.int(EMOJI.length)]!;
    s += rng.int(3) === 0 ? "\n" : " ";
  }
  return s;
}

function numbersText(rng: Rng, chars: number): string {
  let s = "";
  while (s.length < chars) {
    switch (rng.int(4)) {
      case 0:
        s += `${2000 + rng.int(30)}-${String(1 + rng.int(12)).padStart(2, "0")}-${String(1 + rng.int(28)).padStart(2, "0")} `;
        break;
      case 1:
        s += `${(rng.uniform() * 1e6).toFixed(rng.int(5))} `;
        break;
      case 2:
        s += `| ${rng.int(1000)} | ${rng.int(100000)} | ${(rng.uniform() * 100).toFixed(2)}% |\n`;
        break;
      default:
        s += `${rng.int(10 ** (1 + rng.int(12)))}${rng.int(2) === 0 ? "," : "\n"}`;
    }
  }
  return s;
}

function whitespaceHeavy(rng: Rng, chars: number): string {
  let s = "";
  while (s.length < chars) {
    const indent = " ".repeat(2 * rng.int(10)) + "\t".repeat(rng.int(2));
    s += `${indent}${CHAT_WORDS[rng.int(CHAT_WORDS.length)]!}${" ".repeat(1 + rng.int(30))}= ${rng.int(100)};`;
    s += "\n".repeat(1 + rng.int(3)) + (rng.int(5) === 0 ? "   \r\n" : "");
  }
  return s;
}

function trickyText(rng: Rng, chars: number): string {
  let s = "";
  while (s.length < chars) s += randomTrickyText(rng);
  return s;
}

/** `n` clamped to the text, moved past a high surrogate so a pair is never cut. */
function cutPoint(text: string, n: number): number {
  const end = Math.min(text.length, Math.floor(n));
  const c = text.charCodeAt(end - 1);
  return end < text.length && c >= 0xd800 && c <= 0xdbff ? end + 1 : end;
}

function prefix(text: string, chars: number): string {
  return text.slice(0, cutPoint(text, chars));
}

/**
 * Build the corpus.
 *
 * @param targetBytes total UTF-8 size to aim for (the result is within one document of it)
 * @param tokenizer used only to pick the CJK characters of the vocabulary
 */
export function buildCorpus(targetBytes: number, tokenizer: Tokenizer): Corpus {
  const rng = new Rng(20240418);
  const lib = typescriptLib();
  const typesNode = dirname(createRequire(import.meta.url).resolve("@types/node/package.json"));
  const declarations = [...filesUnder(lib, ".d.ts"), ...filesUnder(typesNode, ".d.ts")].map((f) => readFileSync(f, "utf8"));
  // Shares of the target, by kind (fractions of targetBytes, roughly bytes = chars for ASCII).
  const t = targetBytes;
  const sources: ReadonlyArray<readonly [string, string]> = [
    ["english prose", prefix(englishProse(declarations), 0.25 * t)],
    ["multilingual prose", prefix(translatedMessages(), 0.15 * t)],
    ["code", prefix(declarations.join("\n") + readFileSync(join(lib, "typescript.js"), "utf8"), 0.3 * t)],
    ["cjk (generated)", cjkText(rng, tokenizer, 0.1 * t / 3)],
    ["emoji chat (generated)", emojiChat(rng, 0.05 * t)],
    ["numbers (generated)", numbersText(rng, 0.05 * t)],
    ["whitespace-heavy (generated)", whitespaceHeavy(rng, 0.05 * t)],
    ["tricky (generated)", trickyText(rng, 0.05 * t / 1.5)],
  ];
  const bytesByKind = new Map<string, number>();
  const documents: string[] = [];
  for (const [kind, text] of sources) {
    bytesByKind.set(kind, Buffer.byteLength(text));
    for (let i = 0; i < text.length; ) {
      const end = cutPoint(text, i + DOCUMENT_CHARS);
      documents.push(text.slice(i, end));
      i = end;
    }
  }
  for (let i = documents.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [documents[i], documents[j]] = [documents[j]!, documents[i]!];
  }
  const byteLength = documents.reduce((n, d) => n + Buffer.byteLength(d), 0);
  return { documents, byteLength, bytesByKind };
}
