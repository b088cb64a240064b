// Drives a ModelGrid hub with the real @huggingface/hub client. Usage:
//   HUB_URL=http://127.0.0.1:PORT HF_TOKEN=hf_... REPO=ns/name node hf-client.mjs
// Exits non-zero (with the failed assertion) if the hub answers anything the client does not accept.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  commit, createRepo, downloadFile, fileDownloadInfo, listFiles, listModels, modelInfo, uploadFiles,
} from "@huggingface/hub";

const hubUrl = process.env.HUB_URL;
const accessToken = process.env.HF_TOKEN;
const name = process.env.REPO;
assert.ok(hubUrl && accessToken && name, "HUB_URL, HF_TOKEN and REPO must be set");
const repo = { type: "model", name };

const weights = new Uint8Array(300_000).map((_, i) => (i * 7919 + (i >> 8)) & 0xff);
const card = "---\nlicense: mit\ntags:\n- js-client\nbase_model: Qwen/Qwen3-0.6B\n---\n# Uploaded by @huggingface/hub\n";

await createRepo({ repo, accessToken, hubUrl });
const upload = await uploadFiles({
  repo, accessToken, hubUrl,
  files: [
    { path: "README.md", content: new Blob([card]) },
    { path: "weights/model-Q8_0.gguf", content: new Blob([weights]) },
  ],
  commitTitle: "Upload from the JS client",
});
assert.match(upload.commit.oid, /^[0-9a-f]{40}$/);

const files = [];
for await (const entry of listFiles({ repo, hubUrl, recursive: true, accessToken })) files.push(entry);
const gguf = files.find((f) => f.path === "weights/model-Q8_0.gguf");
assert.ok(gguf, `listFiles lacks the uploaded weights: ${JSON.stringify(files)}`);
assert.equal(gguf.size, weights.length);
assert.equal(gguf.lfs.oid, createHash("sha256").update(weights).digest("hex"));
assert.ok(files.some((f) => f.path === "weights" && f.type === "directory"));

const blob = await downloadFile({ repo, hubUrl, path: "weights/model-Q8_0.gguf", accessToken });
assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), weights);
const readme = await downloadFile({ repo, hubUrl, path: "README.md", revision: upload.commit.oid, accessToken });
assert.equal(await readme.text(), card);
assert.equal(await fileDownloadInfo({ repo, hubUrl, path: "missing.bin", accessToken }), null);

const info = await modelInfo({ name, hubUrl, accessToken, additionalFields: ["cardData", "tags", "sha"] });
assert.equal(info.name, name);
assert.equal(info.sha, upload.commit.oid);
assert.equal(info.cardData.license, "mit");
assert.ok(info.tags.includes("base_model:quantized:Qwen/Qwen3-0.6B"), `tags: ${info.tags}`);

const listed = [];
for await (const m of listModels({ hubUrl, accessToken, search: { owner: name.split("/")[0], tags: ["gguf"] } })) listed.push(m.name);
assert.deepEqual(listed, [name]);

await assert.rejects(
  commit({
    repo, accessToken, hubUrl, title: "stale parent", parentCommit: "0".repeat(40),
    operations: [{ operation: "addOrUpdate", path: "notes.txt", content: new Blob(["x"]) }],
  }),
  (e) => e.statusCode === 409,
);

console.log(JSON.stringify({ ok: true, commit: upload.commit.oid, files: files.map((f) => f.path) }));
