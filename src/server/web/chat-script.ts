// The script of the chat page that `llama3 serve` serves at `/` (chat-page.ts): plain browser
// JavaScript kept as a string (no build step, no framework, nothing fetched at run time). It talks to
// the same server's POST /v1/chat/completions with `stream: true` and reads the server-sent events
// as the OpenAI streaming API frames them (`data: {chunk}` events, then `data: [DONE]`; WHATWG HTML
// "Server-sent events"). The string holds no backquote and no dollar-brace, so the template literal
// below is the script verbatim (the page's test checks that it parses).

/** The chat page's script. */
export const CHAT_SCRIPT = `"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    log: $("log"), input: $("input"), composer: $("composer"), send: $("send"), stop: $("stop"),
    regenerate: $("regenerate"), clear: $("clear"), system: $("system"), temperature: $("temperature"),
    maxTokens: $("max-tokens"), stats: $("stats"), error: $("error"), model: $("model"),
  };
  /** The conversation: {role, content} as the API takes it (the system prompt is added per request). */
  const messages = [];
  let inFlight = null;
  let modelId = null;

  const SETTINGS = ["system", "temperature", "maxTokens"];
  for (const name of SETTINGS) {
    try {
      const saved = localStorage.getItem("llama3-ts." + name);
      if (saved !== null) el[name].value = saved;
    } catch (e) { /* storage may be disabled */ }
    el[name].addEventListener("change", () => {
      try { localStorage.setItem("llama3-ts." + name, el[name].value); } catch (e) { /* ignore */ }
    });
  }

  fetch("/v1/models").then((res) => res.json()).then((list) => {
    modelId = list.data[0].id;
    el.model.textContent = modelId;
  }).catch((e) => showError(new Error("Could not reach the server: " + e.message)));

  function showError(error) {
    el.error.textContent = error.message;
    el.error.hidden = false;
  }

  function clearError() {
    el.error.hidden = true;
    el.error.textContent = "";
  }

  function setBusy(busy) {
    el.send.disabled = busy;
    el.stop.disabled = !busy;
    el.clear.disabled = busy;
    el.regenerate.disabled = busy || messages.length === 0;
  }

  function copyText(text, button) {
    const done = () => {
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1200);
    };
    const fallback = () => {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (ok) done(); else showError(new Error("The browser did not allow copying; select the text instead."));
    };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
    else fallback();
  }

  /** A message bubble; assistant bubbles get a copy button. Text only (never HTML). */
  function bubble(message) {
    const div = document.createElement("div");
    div.className = "msg " + message.role;
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = message.content;
    div.appendChild(text);
    if (message.role === "assistant") {
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy";
      copy.textContent = "Copy";
      copy.addEventListener("click", () => copyText(message.content, copy));
      div.appendChild(copy);
    }
    el.log.appendChild(div);
    el.log.scrollTop = el.log.scrollHeight;
    return { div, text };
  }

  function render() {
    el.log.replaceChildren();
    for (const message of messages) bubble(message);
  }

  function showStats(tokens, started, first, last, note) {
    const parts = [tokens + (tokens === 1 ? " token" : " tokens")];
    if (tokens > 1 && last > first) parts.push(((tokens - 1) / ((last - first) / 1000)).toFixed(1) + " tokens/s");
    if (first > 0) parts.push("first token after " + Math.round(first - started) + " ms");
    if (note) parts.push(note);
    el.stats.textContent = parts.join(" \\u00b7 ");
  }

  /** The error a failed response stands for, with a hint for the cases a user can act on. */
  function apiError(status, error, retryAfter) {
    const message = error && typeof error.message === "string" ? error.message : "request failed";
    if (status === 429) return new Error("The server is busy (429): " + message + (retryAfter ? " Retry in " + retryAfter + " s." : ""));
    if (error && error.code === "context_length_exceeded") {
      return new Error("The conversation is too long for the model's context: " + message + " Clear the conversation or lower max tokens.");
    }
    return new Error((status ? "Error " + status + ": " : "Error: ") + message);
  }

  async function responseError(res) {
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    return apiError(res.status, body && body.error ? body.error : { message: res.statusText }, res.headers.get("retry-after"));
  }

  function requestBody() {
    const body = { messages: [], stream: true, stream_options: { include_usage: true } };
    if (modelId !== null) body.model = modelId;
    const system = el.system.value.trim();
    if (system !== "") body.messages.push({ role: "system", content: system });
    body.messages.push(...messages);
    if (el.temperature.value !== "") body.temperature = Number(el.temperature.value);
    if (el.maxTokens.value !== "") body.max_tokens = Number(el.maxTokens.value);
    return body;
  }

  /** Stream the assistant's reply to the conversation so far. */
  async function complete() {
    clearError();
    const controller = new AbortController();
    inFlight = controller;
    setBusy(true);
    const reply = { role: "assistant", content: "" };
    const view = bubble(reply);
    view.div.classList.add("pending");
    const started = performance.now();
    let first = 0, last = 0, chunks = 0, usage = null, finish = null;
    try {
      const res = await fetch("/v1/chat/completions", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(requestBody()), signal: controller.signal,
      });
      if (!res.ok) throw await responseError(res);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\\n\\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of event.split("\\n")) {
            if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
            const chunk = JSON.parse(line.slice(6));
            if (chunk.error) throw apiError(0, chunk.error, null);
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices && chunk.choices[0];
            if (!choice) continue;
            if (choice.finish_reason) finish = choice.finish_reason;
            const text = choice.delta && choice.delta.content;
            if (typeof text === "string" && text !== "") {
              last = performance.now();
              if (first === 0) first = last;
              chunks += 1;
              reply.content += text;
              view.text.textContent = reply.content;
              el.log.scrollTop = el.log.scrollHeight;
              showStats(chunks, started, first, last, "");
            }
          }
        }
      }
      messages.push(reply);
      const tokens = usage ? usage.completion_tokens : chunks;
      showStats(tokens, started, first, last, finish === "length" ? "stopped at max tokens" : "");
    } catch (error) {
      if (controller.signal.aborted) {
        if (reply.content !== "") messages.push(reply);
        showStats(chunks, started, first, last, "stopped");
      } else {
        // A failed turn leaves the conversation as it was: regenerate retries it.
        showError(error instanceof TypeError ? new Error("Could not reach the server: " + error.message) : error);
        if (reply.content !== "") messages.push(reply);
      }
    } finally {
      inFlight = null;
      render();
      setBusy(false);
    }
  }

  el.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el.input.value;
    if (inFlight !== null || text.trim() === "") return;
    el.input.value = "";
    messages.push({ role: "user", content: text });
    render();
    void complete();
  });
  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.composer.requestSubmit();
    }
  });
  el.stop.addEventListener("click", () => { if (inFlight !== null) inFlight.abort(); });
  el.regenerate.addEventListener("click", () => {
    if (inFlight !== null) return;
    if (messages.length > 0 && messages[messages.length - 1].role === "assistant") messages.pop();
    if (messages.length === 0) return;
    render();
    void complete();
  });
  el.clear.addEventListener("click", () => {
    messages.length = 0;
    render();
    clearError();
    el.stats.textContent = "";
    setBusy(false);
  });
  setBusy(false);
  el.input.focus();
})();
`;
