// The official OpenAI (npm `openai` 6.x) and Ollama (npm `ollama`) JavaScript clients against a
// live Holobionte HTTP gateway: streamed and whole chat and completions, usage counts, model lists,
// errors as the clients' own error types. Run by test/http.test.cpp:
//   node clients.mjs BASE_URL API_KEY MODEL OLLAMA_NAME
// Prints one line per check ("ok NAME ..." or "FAIL NAME: why") and exits 1 if any failed.
import OpenAI from 'openai';
import { Ollama } from 'ollama';

const [base, apiKey, model, ollamaName] = process.argv.slice(2);
if (!ollamaName) {
  console.error('usage: node clients.mjs BASE_URL API_KEY MODEL OLLAMA_NAME');
  process.exit(2);
}
const MAX = 24;
let failed = 0;
async function check(name, fn) {
  try {
    const note = await fn();
    console.log(`ok ${name}${note ? ' ' + note : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what);
}
// Random weights rarely end a text early; when they do the count is smaller, never larger.
function expectCount(n, finish, what) {
  expect(Number.isInteger(n) && n > 0 && n <= MAX, `${what}: ${n} tokens`);
  if (finish === 'length') expect(n === MAX, `${what}: finish length with ${n} of ${MAX} tokens`);
}

const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60000 });
const ollama = new Ollama({ host: base, headers: { Authorization: `Bearer ${apiKey}` } });
const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Tell me about clusters.' }];

await check('openai-chat', async () => {
  const r = await openai.chat.completions.create({ model, messages, max_tokens: MAX, seed: 7 });
  expect(r.object === 'chat.completion', `object ${r.object}`);
  const c = r.choices[0];
  expect(c.message.role === 'assistant' && typeof c.message.content === 'string' && c.message.content.length > 0, 'content');
  expect(['stop', 'length'].includes(c.finish_reason), `finish_reason ${c.finish_reason}`);
  expectCount(r.usage.completion_tokens, c.finish_reason, 'usage');
  expect(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'usage sums');
  return `${r.usage.completion_tokens} tokens`;
});

await check('openai-chat-stream', async () => {
  const s = await openai.chat.completions.create({ model, messages, max_tokens: MAX, stream: true,
                                                   stream_options: { include_usage: true } });
  let text = '', chunks = 0, finish = null, usage = null, role = null;
  for await (const ch of s) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    if (!ch.choices.length) continue;
    const d = ch.choices[0].delta;
    if (d.role) role = d.role;
    if (d.content) text += d.content;
    if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
  }
  expect(role === 'assistant', 'role chunk');
  expect(text.length > 0, 'text');
  expect(finish === 'stop' || finish === 'length', `finish ${finish}`);
  expect(usage, 'a usage chunk (include_usage)');
  expectCount(usage.completion_tokens, finish, 'usage');
  expect(chunks >= 3, `${chunks} chunks`);
  return `${chunks} chunks, ${usage.completion_tokens} tokens`;
});

await check('openai-completion', async () => {
  const r = await openai.completions.create({ model, prompt: 'Once upon a time', max_tokens: MAX });
  expect(r.object === 'text_completion', `object ${r.object}`);
  expect(typeof r.choices[0].text === 'string' && r.choices[0].text.length > 0, 'text');
  expectCount(r.usage.completion_tokens, r.choices[0].finish_reason, 'usage');
});

await check('openai-completion-stream', async () => {
  const s = await openai.completions.create({ model, prompt: 'Once upon a time', max_tokens: MAX, stream: true,
                                             stream_options: { include_usage: true } });
  let text = '', usage = null, finish = null;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    if (ch.choices.length) {
      text += ch.choices[0].text;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
  }
  expect(text.length > 0, 'text');
  expect(usage, 'usage chunk');
  expectCount(usage.completion_tokens, finish, 'usage');
});

await check('openai-models', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  expect(ids.includes(model), `list ${ids}`);
  const one = await openai.models.retrieve(ollamaName);
  expect(one.id === ollamaName, `retrieve ${one.id}`);
});

await check('openai-unknown-model-is-404', async () => {
  try {
    await openai.chat.completions.create({ model: 'no-such-model', messages });
  } catch (e) {
    expect(e instanceof OpenAI.NotFoundError, `error type ${e.constructor.name}`);
    expect(e.status === 404 && e.code === 'model_not_found', `${e.status} ${e.code}`);
    return;
  }
  throw new Error('no error');
});

await check('openai-bad-key-is-401', async () => {
  const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-wrong-key-0000000000', maxRetries: 0 });
  try {
    await bad.models.list();
  } catch (e) {
    expect(e instanceof OpenAI.AuthenticationError, `error type ${e.constructor.name}`);
    return;
  }
  throw new Error('no error');
});

await check('ollama-chat', async () => {
  const r = await ollama.chat({ model: ollamaName, messages, options: { num_predict: MAX, seed: 3, temperature: 0.7 } });
  expect(r.done === true && r.message.role === 'assistant' && r.message.content.length > 0, 'message');
  expect(['stop', 'length'].includes(r.done_reason), `done_reason ${r.done_reason}`);
  expectCount(r.eval_count, r.done_reason, 'eval_count');
  expect(r.prompt_eval_count > 0 && r.total_duration > 0 && r.eval_duration >= 0, 'counts and durations');
  return `${r.eval_count} tokens in ${r.total_duration} ns`;
});

await check('ollama-chat-stream', async () => {
  const s = await ollama.chat({ model: ollamaName, messages, stream: true, options: { num_predict: MAX } });
  let text = '', last = null, parts = 0;
  for await (const p of s) {
    parts++;
    text += p.message.content;
    last = p;
  }
  expect(last && last.done, 'final line');
  expect(text.length > 0, 'text');
  expectCount(last.eval_count, last.done_reason, 'eval_count');
  return `${parts} lines`;
});

await check('ollama-generate', async () => {
  const r = await ollama.generate({ model: ollamaName, prompt: 'Why is the sky blue?', options: { num_predict: MAX } });
  expect(r.done && r.response.length > 0, 'response');
  expectCount(r.eval_count, r.done_reason, 'eval_count');
});

await check('ollama-generate-stream', async () => {
  const s = await ollama.generate({ model: ollamaName, prompt: 'Why is the sky blue?', stream: true, raw: true,
                                    options: { num_predict: MAX, stop: ['never-appears-here'] } });
  let text = '', last = null;
  for await (const p of s) {
    text += p.response;
    last = p;
  }
  expect(last && last.done && text.length > 0, 'stream');
  expectCount(last.eval_count, last.done_reason, 'eval_count');
});

await check('ollama-list-show-ps-version', async () => {
  const tags = await ollama.list();
  expect(tags.models.some((m) => m.name === model && m.size > 0), `tags ${JSON.stringify(tags)}`);
  const show = await ollama.show({ model: ollamaName });
  expect(show.details && show.details.format === 'gguf', `show ${JSON.stringify(show.details)}`);
  const ps = await ollama.ps();
  expect(ps.models.some((m) => m.name === model), `ps ${JSON.stringify(ps)}`);
  const v = await ollama.version();
  expect(typeof v.version === 'string', 'version');
});

await check('ollama-unknown-model-is-404', async () => {
  try {
    await ollama.chat({ model: 'no-such-model:1b', messages });
  } catch (e) {
    expect(e.status_code === 404, `status ${e.status_code}: ${e.message}`);
    return;
  }
  throw new Error('no error');
});

console.log(failed ? `${failed} checks failed` : 'all checks passed');
process.exit(failed ? 1 : 0);
