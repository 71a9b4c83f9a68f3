// The browser example: loads a model in an engine worker (llama3-ts/browser's LlamaWorker) from a
// URL or a picked folder, with a progress bar, and chats with it: replies stream in token by token,
// Stop aborts the current one. Served by serve.mjs (cross-origin isolated: one thread per core).
import { LlamaWorker, clearModelCache } from "../../dist/browser/browser/index.js";

const $ = (id) => document.getElementById(id);
const messages = [];
let llm;
let controller;

function setStatus(text) { $("status").textContent = text; }
function showError(error) { $("error").textContent = error ? String(error.message ?? error) : ""; }

async function load(source) {
  showError(null);
  llm?.terminate();
  llm = undefined;
  messages.length = 0;
  $("log").replaceChildren();
  $("progress").hidden = false;
  setStatus("loading...");
  for (const id of ["load-url", "folder"]) $(id).disabled = true;
  const started = performance.now();
  try {
    // A URL (folder or .gguf) with "keep a copy" checked: streamed into OPFS once, loaded from there on later visits.
    llm = await LlamaWorker.load(source, {
      cache: $("cache").checked,
      onDownloadProgress: (loaded, total) => setStatus("downloading: " + (loaded / 1e6).toFixed(0) + " of " + (total / 1e6).toFixed(0) + " MB"),
      onProgress: (loaded, total) => {
        $("progress").max = total;
        $("progress").value = loaded;
        setStatus("loading: " + (loaded / 1e6).toFixed(0) + " of " + (total / 1e6).toFixed(0) + " MB");
      },
      onWarning: (message) => console.warn(message),
    });
    const info = llm.info;
    setStatus("loaded " + info.nameOrPath + " in " + ((performance.now() - started) / 1000).toFixed(1) + " s; " + info.threads + " thread(s)"
      + (info.crossOriginIsolated ? "" : " (page not cross-origin isolated: one thread)") + (info.chat ? "" : "; no chat template: plain completion"));
    $("input").disabled = false;
    $("send").disabled = false;
  } catch (error) {
    showError(error);
    setStatus("");
  } finally {
    $("progress").hidden = true;
    for (const id of ["load-url", "folder"]) $(id).disabled = false;
  }
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("log").appendChild(div);
  return div;
}

async function send(text) {
  messages.push({ role: "user", content: text });
  bubble("user", text);
  const view = bubble("assistant", "");
  controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  let reply = "";
  let tokens = 0;
  const started = performance.now();
  try {
    const input = llm.info.chat ? messages : text;
    for await (const event of llm.generate(input, { maxNewTokens: 512, signal: controller.signal })) {
      if (event.type === "token") {
        reply += event.text;
        tokens += 1;
        view.textContent = reply;
      } else {
        reply = event.text;
        view.textContent = reply;
        setStatus(tokens + " tokens, " + (tokens / ((performance.now() - started) / 1000)).toFixed(1) + " tokens/s (" + event.finishReason + ")");
      }
    }
    messages.push({ role: "assistant", content: reply });
  } catch (error) {
    if (!controller.signal.aborted) showError(error);
    else setStatus(tokens + " tokens (stopped)");
    if (reply !== "") messages.push({ role: "assistant", content: reply });
  } finally {
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

$("load-url").addEventListener("click", () => load($("url").value));
$("folder").addEventListener("change", (event) => { if (event.target.files.length > 0) void load(event.target.files); });
$("stop").addEventListener("click", () => controller?.abort());
$("clear").addEventListener("click", () => clearModelCache().then(() => setStatus("cached copies removed"), showError));
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value.trim();
  if (text === "" || llm === undefined) return;
  $("input").value = "";
  void send(text);
});
