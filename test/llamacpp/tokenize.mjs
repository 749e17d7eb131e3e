#!/usr/bin/env node
// llama.cpp's tokenizer as the reference (node-llama-cpp's prebuilt CPU build of llama.cpp).
//
//   node tokenize.mjs --version                     prints the llama.cpp release and binary kind
//   node tokenize.mjs MODEL.gguf TEXT [--special]   prints the ids of TEXT as a JSON array
//   node tokenize.mjs MODEL.gguf --texts FILE.json  FILE holds a JSON array of strings; prints
//                                                   {"plain": [[ids]...], "special": [[ids]...],
//                                                    "bos": id|null, "eos": id|null}
// Ids are llama.cpp's common_tokenize(text, add_special = false, parse_special), the same as
// holo's tokenizer::encode(text, false, parse_special). Exit 1 (message on stderr) on failure.
// Run ./setup.sh first.
import { readFileSync } from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage() {
  process.stderr.write("usage: node tokenize.mjs (--version | MODEL.gguf (TEXT [--special] | --texts FILE.json))\n");
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === "--version") {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  process.stdout.write(`llama.cpp ${llama.llamaCppRelease.release} (${llama.buildType} binary, node-llama-cpp)\n`);
  await llama.dispose();
  process.exit(0);
}
if (args.length < 2) usage();
const modelPath = args[0];

try {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  if (args[1] === "--texts") {
    if (args.length !== 3) usage();
    const texts = JSON.parse(readFileSync(args[2], "utf8"));
    const out = {
      plain: texts.map((t) => Array.from(model.tokenize(t, false))),
      special: texts.map((t) => Array.from(model.tokenize(t, true))),
      bos: model.tokens.bos ?? null,
      eos: model.tokens.eos ?? null,
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  } else {
    const special = args.includes("--special");
    process.stdout.write(JSON.stringify(Array.from(model.tokenize(args[1], special))) + "\n");
  }
  await model.dispose();
  await llama.dispose();
} catch (e) {
  process.stderr.write(`tokenize.mjs: ${e?.message ?? e}\n`);
  process.exit(1);
}
