// The chat page `llama3 serve` serves at `/` (turned off by --no-web-ui): one self-contained HTML
// document, its style and script inline (chat-script.ts), so it needs nothing but the server that
// serves it. Sent with a Content-Security-Policy that lets it run only its own script (by hash,
// CSP Level 3 "hash-source") and talk only to its own origin.

import { createHash } from "node:crypto";
import { CHAT_SCRIPT } from "./chat-script.js";

const STYLE = `
  :root { color-scheme: light dark; --accent: #3a6ff7; --muted: #888; --bubble: rgba(127,127,127,.12); }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; gap: .75rem; align-items: baseline; padding: .5rem 1rem; border-bottom: 1px solid var(--bubble); }
  header h1 { font-size: 1.05rem; margin: 0; }
  #model { color: var(--muted); font-family: ui-monospace, monospace; font-size: .9rem; }
  details { padding: .25rem 1rem; border-bottom: 1px solid var(--bubble); }
  details label { display: block; margin: .35rem 0; }
  details textarea { width: 100%; }
  details input { width: 8rem; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .6rem; }
  .msg { max-width: 48rem; padding: .5rem .75rem; border-radius: .6rem; background: var(--bubble); position: relative; }
  .msg.user { align-self: flex-end; background: color-mix(in srgb, var(--accent) 22%, transparent); }
  .msg .text { white-space: pre-wrap; overflow-wrap: anywhere; }
  .msg.pending .text:empty::after { content: "\\2026"; color: var(--muted); }
  .msg .copy { font-size: .75rem; margin-top: .3rem; }
  #error { margin: 0 1rem; padding: .5rem .75rem; border-radius: .4rem; background: #c0392b22; color: #c0392b; }
  #stats { padding: 0 1rem; color: var(--muted); font-size: .85rem; min-height: 1.3em; }
  form { display: flex; gap: .5rem; padding: .5rem 1rem 1rem; }
  form textarea { flex: 1; font: inherit; resize: vertical; }
  .buttons { display: flex; flex-direction: column; gap: .3rem; }
  button { font: inherit; padding: .25rem .8rem; }
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>llama3-ts chat</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>llama3-ts</h1><span id="model"></span></header>
<details open>
  <summary>Settings</summary>
  <label>System prompt<br><textarea id="system" rows="2" placeholder="none"></textarea></label>
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.05" placeholder="model default"></label>
  <label>Max tokens <input id="max-tokens" type="number" min="1" step="1" placeholder="server default"></label>
</details>
<main id="log" aria-live="polite"></main>
<div id="error" role="alert" hidden></div>
<div id="stats"></div>
<form id="composer">
  <textarea id="input" rows="3" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
  <div class="buttons">
    <button id="send" type="submit">Send</button>
    <button id="stop" type="button">Stop</button>
    <button id="regenerate" type="button">Regenerate</button>
    <button id="clear" type="button">Clear</button>
  </div>
</form>
<script>${CHAT_SCRIPT}</script>
</body>
</html>
`;

/** The page and the headers it is served with. */
export interface WebPage {
  readonly html: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The chat page. */
export function chatPage(): WebPage {
  const scriptHash = createHash("sha256").update(CHAT_SCRIPT).digest("base64");
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    html: HTML,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": csp,
      "x-content-type-options": "nosniff",
      "cache-control": "no-cache",
    },
  };
}
