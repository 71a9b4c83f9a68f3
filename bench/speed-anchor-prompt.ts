// The prompt the speed benchmarks measure prefill on (speed-child.ts, browser.ts): llama.cpp's anchor
// llamacpp_bench.mjs's, BOS then ids from its LCG (seed 12345) below 128000. In its own file so a
// bench can import it without running speed-child.ts.

/** llamacpp_bench.mjs's prompt: BOS, then ids from its LCG (seed 12345) below 128000. */
export function anchorPrompt(nTokens: number): number[] {
  let s = 12345;
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const prompt = [128000];
  while (prompt.length < nTokens) prompt.push(Math.floor(rnd() * 128000));
  return prompt;
}
