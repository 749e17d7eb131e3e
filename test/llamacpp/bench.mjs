#!/usr/bin/env node
// llama.cpp's speed on a GGUF file, measured like llama-bench (and like `holo bench engine`, which
// runs this script for --compare-llamacpp): ppN = N prompt tokens in one batch, logits of the last
// one; tgN = N single-token evaluations from an empty context, each producing logits (and a greedy
// sample, which costs microseconds). One warm-up, then --reps repetitions; mean and sample stddev
// of tokens/s. The prompt ids are the synthetic ones of generate.mjs.
//
//   node bench.mjs MODEL.gguf [--threads 2] [--pp 512] [--tg 128] [--reps 3] [--flash-attn auto|on|off]
// Prints one JSON object: {"llama_cpp": "...", "threads": n, "pp": n, "tg": n, "reps": n,
//   "pp_tok_s_mean": r, "pp_tok_s_stddev": r, "tg_tok_s_mean": r, "tg_tok_s_stddev": r,
//   "pp_tok_s": [..], "tg_tok_s": [..]}
// Exit 1 (message on stderr) on failure, 2 on usage errors. Run ./setup.sh first.
import { performance } from "node:perf_hooks";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
  if (msg) process.stderr.write(`bench.mjs: ${msg}\n`);
  process.stderr.write("usage: node bench.mjs MODEL.gguf [--threads N] [--pp N] [--tg N] [--reps N] [--flash-attn auto|on|off]\n");
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length < 1 || args[0].startsWith("--")) usage();
const opts = { threads: 2, pp: 512, tg: 128, reps: 3, flash: "auto" };
for (let i = 1; i < args.length; i += 2) {
  const k = args[i], v = args[i + 1];
  if (v === undefined) usage(`${k} needs a value`);
  if (k === "--threads") opts.threads = Number(v);
  else if (k === "--pp") opts.pp = Number(v);
  else if (k === "--tg") opts.tg = Number(v);
  else if (k === "--reps") opts.reps = Number(v);
  else if (k === "--flash-attn") opts.flash = v;
  else usage(`unknown option ${k}`);
}
if (!(opts.pp >= 0 && opts.tg >= 0 && opts.reps >= 1 && opts.pp + opts.tg > 0)) usage("need pp >= 0, tg >= 0, reps >= 1");

const stats = (v) => {
  if (v.length === 0) return [null, null];
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return [+m.toFixed(2), +sd.toFixed(2)];
};

try {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: args[0], gpuLayers: 0 });
  const nVocab = Number(model.fileInsights.tensorInfo?.find((t) => t.name === "token_embd.weight")?.dimensions[1] ?? 1000);
  const ids = Array.from({ length: Math.max(opts.pp, 1) }, (_, i) => 300 + ((i * 7919) % Math.max(1, nVocab - 300)));
  const flashAttention = opts.flash === "auto" ? "auto" : opts.flash === "on";
  const context = await model.createContext({
    contextSize: Math.max(opts.pp, opts.tg) + 16, batchSize: Math.max(opts.pp, 1), threads: opts.threads, sequences: 1, flashAttention,
  });
  const sequence = context.getSequence();
  const withLogits = (tokens) => tokens.map((t, j) => (j === tokens.length - 1 ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t));
  const pp = async () => {
    await sequence.clearHistory();
    const t0 = performance.now();
    await sequence.controlledEvaluate(withLogits(ids.slice(0, opts.pp)));
    return opts.pp / ((performance.now() - t0) / 1000);
  };
  const tg = async () => {
    await sequence.clearHistory();
    const t0 = performance.now();
    for (let i = 0; i < opts.tg; i++) await sequence.controlledEvaluate(withLogits([ids[i % ids.length]]));
    return opts.tg / ((performance.now() - t0) / 1000);
  };
  // Warm-up: a short prompt and one decode (allocates llama.cpp's compute buffers).
  await sequence.controlledEvaluate(withLogits(ids.slice(0, Math.min(8, ids.length))));
  await sequence.controlledEvaluate(withLogits([ids[0]]));
  const ppRuns = [], tgRuns = [];
  for (let r = 0; r < opts.reps; r++) {
    if (opts.pp > 0) ppRuns.push(await pp());
    if (opts.tg > 0) tgRuns.push(await tg());
  }
  const [ppM, ppS] = stats(ppRuns), [tgM, tgS] = stats(tgRuns);
  process.stdout.write(JSON.stringify({
    llama_cpp: `llama.cpp ${llama.llamaCppRelease.release} (${llama.buildType} binary, node-llama-cpp, flash-attn ${opts.flash})`,
    threads: opts.threads, pp: opts.pp, tg: opts.tg, reps: opts.reps,
    pp_tok_s_mean: ppM, pp_tok_s_stddev: ppS, tg_tok_s_mean: tgM, tg_tok_s_stddev: tgS,
    pp_tok_s: ppRuns.map((x) => +x.toFixed(2)), tg_tok_s: tgRuns.map((x) => +x.toFixed(2)),
  }) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
} catch (e) {
  process.stderr.write(`bench.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
}
