// The browser loader's byte sources and safetensors reader, run in Node (which has fetch, Blob and
// Response): a URL read by Range requests piece by piece gives the file's bytes; a server that
// ignores Range, a 404, a short body and a truncated header are reported, not hung on or read
// wrong; picked files (Blobs) load the same model as the Node loader, tensor for tensor.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { blobSource, urlSource } from "../src/browser/byte-source.js";
import { fileFolder, urlFolder } from "../src/browser/model-folder.js";
import { openWebSafetensors } from "../src/browser/safetensors-web.js";
import { fromPretrained } from "../src/browser/pretrained-web.js";
import { FormatError, LlamaError } from "../src/errors.js";
import { openSafetensorsCheckpoint } from "../src/io/safetensors-checkpoint.js";
import { LlamaForCausalLM } from "../src/loader/pretrained.js";
import { type StaticServer, startStaticServer } from "./support/static-server.js";
import { TINY_MODEL_DIR } from "./server-support.js";

let http: StaticServer;
let noRanges: Server;
let noRangesUrl: string;
const weights = readFileSync(join(TINY_MODEL_DIR, "model.safetensors"));
before(async () => {
  http = await startStaticServer({ "/model/": [TINY_MODEL_DIR] });
  noRanges = createServer((_req, res) => res.writeHead(200, { "content-length": weights.length }).end(weights));
  await new Promise<void>((resolve) => noRanges.listen(0, "127.0.0.1", resolve));
  noRangesUrl = `http://127.0.0.1:${(noRanges.address() as AddressInfo).port}/model.safetensors`;
});
after(async () => {
  await http.close();
  await new Promise((resolve) => noRanges.close(resolve));
});

test("a URL is read by Range requests into the target, in pieces, byte for byte", async () => {
  const MIB = 1024 * 1024;
  const source = await urlSource(`${http.url}/plain/model/model.safetensors`, fetch, MIB);
  assert.ok(source !== undefined);
  assert.equal(source.size, weights.length);
  const start = 1000;
  const target = new Uint8Array(3_000_000);
  const before = http.requests.length;
  await source.readInto(target, start);
  assert.deepEqual(Buffer.from(target), weights.subarray(start, start + target.length));
  const pieces = [0, 1, 2].map((i) => `GET /plain/model/model.safetensors bytes=${start + i * MIB}-${Math.min(start + (i + 1) * MIB, start + target.length) - 1}`);
  assert.deepEqual(http.requests.slice(before), pieces, "three pieces of at most 1 MiB");
  const blob = blobSource(new Blob([weights]), "w", 999);
  const fromBlob = new Uint8Array(5000);
  await blob.readInto(fromBlob, 7);
  assert.deepEqual(Buffer.from(fromBlob), weights.subarray(7, 5007));
  await assert.rejects(blob.readInto(new Uint8Array(10), weights.length - 5), FormatError);
  await assert.rejects(source.readInto(new Uint8Array(10), weights.length - 5), FormatError, "past the end");
  assert.equal(await urlSource(`${http.url}/plain/model/missing.json`), undefined, "404 is a missing file");
});

test("a server that ignores Range is refused for weights (not read whole)", async () => {
  const source = await urlSource(noRangesUrl);
  assert.ok(source !== undefined);
  await assert.rejects(source.readInto(new Uint8Array(8), 0), (error: unknown) => error instanceof LlamaError && /ignores HTTP Range/.test(error.message));
});

test("a body shorter than the range asked for is a FormatError", async () => {
  const short: typeof fetch = async (_url, init) => {
    const range = new Headers(init?.headers).get("range")!;
    if (range === "bytes=0-0") return new Response(new Uint8Array(1), { status: 206, headers: { "content-range": "bytes 0-0/100" } });
    return new Response(new Uint8Array(10), { status: 206, headers: { "content-range": "bytes 0-9/100" } });
  };
  const source = await urlSource("http://fake.test/x", short);
  await assert.rejects(source!.readInto(new Uint8Array(50), 0), (error: unknown) => error instanceof FormatError && /40 of 50 bytes missing/.test(error.message));
});

test("a truncated safetensors header is the Node reader's FormatError", async () => {
  const folder = fileFolder([new File([weights.subarray(0, 100)], "model.safetensors"), new File(["{}"], "config.json")]);
  await assert.rejects(openWebSafetensors(folder), FormatError);
});

test("over HTTP and from Blobs, the checkpoint's entries and bytes are the Node reader's", async () => {
  const node = await openSafetensorsCheckpoint(TINY_MODEL_DIR);
  const overHttp = await openWebSafetensors(urlFolder(`${http.url}/plain/model`));
  const fromBlobs = await openWebSafetensors(fileFolder([new File([weights], "model.safetensors")]));
  try {
    for (const web of [overHttp, fromBlobs]) {
      assert.deepEqual([...web.entries.keys()].sort(), [...node.entries.keys()].sort());
      for (const name of node.entries.keys()) {
        const [a, b] = await Promise.all([web.read(name), node.read(name)]);
        assert.deepEqual(a.shape, b.shape);
        assert.deepEqual(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), name);
      }
    }
  } finally {
    await node.close();
  }
});

test("fromPretrained from picked files gives the Node model's logits exactly (same reference kernels)", async () => {
  const files = ["config.json", "model.safetensors"].map((name) => new File([readFileSync(join(TINY_MODEL_DIR, name))], name));
  const web = await fromPretrained(files);
  const node = await LlamaForCausalLM.fromPretrained(TINY_MODEL_DIR);
  const ids = [128000, 791, 6864];
  assert.deepEqual(await web.model.forward(ids, web.model.createKvCache()), await node.forward(ids, node.createKvCache()));
  await assert.rejects(fromPretrained([new File(["{}"], "tokenizer.json")]), (error: unknown) => error instanceof FormatError && /no config\.json/.test(error.message));
});
