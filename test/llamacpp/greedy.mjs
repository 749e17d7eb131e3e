#!/usr/bin/env node
// Greedy decoding in llama.cpp (node-llama-cpp's prebuilt CPU build) from prompt ids, one token at
// a time through controlledEvaluate, so end-of-generation tokens do NOT stop it (generate.mjs's
// evaluate() stops at EOG): exactly n ids, for exact comparison with `holo run --token-ids` and
// gpu/llamacpp_parity.test.cpp. Also reports, per generated token, llama.cpp's top candidates with
// their log-probabilities (differences of log-probabilities are differences of logits), so a
// mismatch can be told apart as a near-tie.
//
//   node greedy.mjs MODEL.gguf --prompt 1,15043,3186 [--n 16] [--threads 2] [--ctx 512]
//                   [--flash-attn auto|on|off (default auto, llama.cpp's)] [--top 2]
// Prints one JSON object: {"prompt": [ids], "generated": [ids], "top": [[[id, logprob], ...], ...],
//                          "flash_attn": "auto"|"on"|"off"}
// Exit 1 (message on stderr) on failure, 2 on usage errors. Run ./setup.sh first.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function usage(msg) {
  if (msg) process.stderr.write(`greedy.mjs: ${msg}\n`);
  process.stderr.write("usage: node greedy.mjs MODEL.gguf --prompt IDS [--n N] [--threads N] [--ctx N] [--flash-attn auto|on|off] [--top K]\n");
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.length < 3 || args[0].startsWith("--")) usage();
const opts = { n: 16, threads: 2, ctx: 512, flash: "auto", top: 2 };
for (let i = 1; i < args.length; i += 2) {
  const k = args[i], v = args[i + 1];
  if (v === undefined) usage(`${k} needs a value`);
  if (k === "--prompt") opts.prompt = v.split(",").filter((s) => s !== "").map(Number);
  else if (k === "--n") opts.n = Number(v);
  else if (k === "--threads") opts.threads = Number(v);
  else if (k === "--ctx") opts.ctx = Number(v);
  else if (k === "--flash-attn") opts.flash = v;
  else if (k === "--top") opts.top = Number(v);
  else usage(`unknown option ${k}`);
}
if (!opts.prompt || opts.prompt.length === 0) usage("give --prompt");
if (opts.prompt.some((x) => !Number.isInteger(x) || x < 0)) usage("--prompt takes comma-separated token ids");
if (!["auto", "on", "off"].includes(opts.flash)) usage("--flash-attn takes auto, on or off");
if (opts.prompt.length + opts.n > opts.ctx) usage(`prompt + n exceeds --ctx ${opts.ctx}`);

try {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: args[0], gpuLayers: 0 });
  const flashAttention = opts.flash === "auto" ? "auto" : opts.flash === "on";
  const context = await model.createContext({
    contextSize: opts.ctx, batchSize: Math.max(opts.prompt.length, 1), threads: opts.threads, sequences: 1, flashAttention,
  });
  const sequence = context.getSequence();
  const generated = [], top = [];
  // The last input token of each call asks for the next token: greedy (temperature 0), plus the
  // probabilities at temperature 1 for the report (a second, separate request would re-evaluate).
  let input = opts.prompt;
  for (let i = 0; i < opts.n; i++) {
    const items = input.map((t, j) => (j === input.length - 1
      ? [t, { generateNext: { token: true, probabilities: opts.top > 0, options: { temperature: 0 } } }]
      : t));
    const out = await sequence.controlledEvaluate(items);
    const next = out[input.length - 1]?.next;
    if (next?.token == null) throw new Error(`no token generated at step ${i}`);
    generated.push(next.token);
    if (opts.top > 0 && next.probabilities) {
      const entries = Array.from(next.probabilities.entries()).sort((a, b) => b[1] - a[1]).slice(0, opts.top);
      top.push(entries.map(([id, p]) => [id, p > 0 ? +Math.log(p).toFixed(6) : null]));
    }
    input = [next.token];
  }
  process.stdout.write(JSON.stringify({ prompt: opts.prompt, generated, top, flash_attn: opts.flash }) + "\n");
  await context.dispose();
  await model.dispose();
  await llama.dispose();
} catch (e) {
  process.stderr.write(`greedy.mjs: ${e?.stack ?? e}\n`);
  process.exit(1);
}
