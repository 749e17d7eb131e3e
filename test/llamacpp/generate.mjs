#!/usr/bin/env node
// llama.cpp's forward pass as the reference (node-llama-cpp's prebuilt CPU build of llama.cpp):
// greedy decoding from prompt ids, with prompt-processing (pp) and generation (tg) timings.
//
//   node generate.mjs MODEL.gguf --prompt 1,15043,3186 [--n 16] [--threads 2] [--ctx 512]
//   node generate.mjs MODEL.gguf --text "Once upon a time" [--n 16]   (tokenized with BOS, no specials)
//   node generate.mjs MODEL.gguf --pp 128 --n 32                       (benchmark: synthetic prompt)
// Prints one JSON object:
//   {"prompt": [ids], "generated": [ids], "pp_tokens": n, "pp_ms": t, "tg_tokens": n, "tg_ms": t,
//    "pp_tok_s": r, "tg_tok_s": r, "load_ms": t, "threads": n}
// pp_ms runs from submitting the prompt to the first generated id (the prompt's batch plus one
// sampling); tg_ms covers the remaining n-1 ids, each one forward pass of one token. Sampling is
// greedy (temperature 0, no penalties); end-of-generation tokens do not stop it (yieldEogToken):
// exactly n ids.
// Exit 1 (message on stderr) on failure, 2 on usage errors. Run ./setup.sh first.
import { performance } from "node:perf_hooks";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
  if (msg) process.stderr.write(`generate.mjs: ${msg}\n`);
  process.stderr.write("usage: node generate.mjs MODEL.gguf (--prompt IDS | --text TEXT | --pp N) [--n N] [--threads N] [--ctx N]\n");
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length < 3 || args[0].startsWith("--")) usage();
const opts = { n: 16, threads: 2, ctx: 512 };
for (let i = 1; i < args.length; i += 2) {
  const k = args[i], v = args[i + 1];
  if (v === undefined) usage(`${k} needs a value`);
  if (k === "--prompt") opts.prompt = v.split(",").filter((s) => s !== "").map(Number);
  else if (k === "--text") opts.text = v;
  else if (k === "--pp") opts.pp = Number(v);
  else if (k === "--n") opts.n = Number(v);
  else if (k === "--threads") opts.threads = Number(v);
  else if (k === "--ctx") opts.ctx = Number(v);
  else usage(`unknown option ${k}`);
}
if ([opts.prompt, opts.text, opts.pp].filter((x) => x !== undefined).length !== 1) usage("give one of --prompt, --text, --pp");
if (opts.prompt && opts.prompt.some((x) => !Number.isInteger(x) || x < 0)) usage("--prompt takes comma-separated token ids");

try {
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: args[0], gpuLayers: 0 });
  let prompt = opts.prompt;
  if (opts.text !== undefined) {
    prompt = Array.from(model.tokenize(opts.text, false));
    if (model.tokens.bos != null && model.tokens.shouldPrependBosToken) prompt.unshift(model.tokens.bos);
  }
  if (opts.pp !== undefined) {  // ids cycling over the vocabulary, skipping the first (special) ones
    const nVocab = model.fileInsights.tensorInfo?.find((t) => t.name === "token_embd.weight")?.dimensions[1] ?? 1000;
    prompt = Array.from({ length: opts.pp }, (_, i) => 300 + ((i * 7919) % Math.max(1, Number(nVocab) - 300)));
  }
  if (prompt.length === 0) usage("empty prompt");
  if (prompt.length + opts.n > opts.ctx) usage(`prompt + n exceeds --ctx ${opts.ctx}`);
  const context = await model.createContext({ contextSize: opts.ctx, batchSize: Math.max(prompt.length, 1), threads: opts.threads, sequences: 1 });
  const sequence = context.getSequence();
  // Warm-up: the first evaluation allocates llama.cpp's compute buffers; keep that out of pp_ms.
  await sequence.evaluateWithoutGeneratingNewTokens([prompt[0]]);
  await sequence.clearHistory();
  const loadMs = performance.now() - t0;

  const generated = [];
  let t1 = performance.now(), tFirst = 0;
  if (opts.n > 0) {
    for await (const token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
      generated.push(token);
      if (generated.length === 1) tFirst = performance.now();
      if (generated.length >= opts.n) break;
    }
  } else {
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    tFirst = performance.now();
  }
  const t2 = performance.now();
  const ppMs = tFirst - t1, tgMs = t2 - tFirst, tgTokens = Math.max(0, generated.length - 1);
  process.stdout.write(JSON.stringify({
    prompt, generated,
    pp_tokens: prompt.length, pp_ms: +ppMs.toFixed(3), tg_tokens: tgTokens, tg_ms: +tgMs.toFixed(3),
    pp_tok_s: +(prompt.length / (ppMs / 1000)).toFixed(2),
    tg_tok_s: tgTokens > 0 ? +(tgTokens / (tgMs / 1000)).toFixed(2) : null,
    load_ms: +loadMs.toFixed(1), threads: opts.threads,
  }) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
} catch (e) {
  process.stderr.write(`generate.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
}
