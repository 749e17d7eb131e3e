// A generation that fails after it started streaming must reach the official clients as an error,
// not as a normal end: starts one OpenAI and one Ollama stream, and once both have text, kills
// (SIGKILL) the node serving them -- the model's only replica, so the router gives up with
// `unavailable`. Run by test/http.test.cpp:
//   node midstream.mjs BASE_URL API_KEY MODEL PID_TO_KILL
// Prints "ok openai-midstream-error: MESSAGE" / "ok ollama-midstream-error: MESSAGE" or FAIL lines.
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const [base, apiKey, model, pid] = process.argv.slice(2);
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 120000 });
const ollama = new Ollama({ host: base, headers: { Authorization: `Bearer ${apiKey}` } });
const messages = [{ role: 'user', content: 'Talk for a long time.' }];
const LONG = 3000;

let started = 0;
let killed = false;
function first() {
  if (++started === 2 && !killed) {
    killed = true;
    process.kill(Number(pid), 'SIGKILL');
  }
}

async function openaiStream() {
  const s = await openai.chat.completions.create({ model, messages, max_tokens: LONG, stream: true });
  let text = '';
  try {
    for await (const ch of s) {
      if (ch.choices.length && ch.choices[0].delta.content) {
        if (!text) first();
        text += ch.choices[0].delta.content;
      }
      if (ch.choices.length && ch.choices[0].finish_reason) return `FAIL openai-midstream-error: finished normally (${ch.choices[0].finish_reason})`;
    }
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) return `FAIL openai-midstream-error: not an APIError: ${e}`;
    return `ok openai-midstream-error: after ${text.length} chars: ${e.message}`;
  }
  return 'FAIL openai-midstream-error: the stream ended without an error';
}

async function ollamaStream() {
  const s = await ollama.chat({ model, messages, stream: true, options: { num_predict: LONG } });
  let text = '';
  try {
    for await (const p of s) {
      if (p.message.content) {
        if (!text) first();
        text += p.message.content;
      }
      if (p.done) return `FAIL ollama-midstream-error: finished normally (${p.done_reason})`;
    }
  } catch (e) {
    return `ok ollama-midstream-error: after ${text.length} chars: ${e.message}`;
  }
  return 'FAIL ollama-midstream-error: the stream ended without an error';
}

const results = await Promise.all([openaiStream(), ollamaStream()]);
for (const r of results) console.log(r);
process.exit(results.every((r) => r.startsWith('ok')) ? 0 : 1);
