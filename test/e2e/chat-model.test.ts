/**
 * n8n's own Chat Model sub-nodes writing the copy in a real n8n 2.x: the OpenAI Chat Model
 * (@n8n/n8n-nodes-langchain.lmChatOpenAi, its credential's Base URL pointed at the OpenAI-compatible
 * simulator) under Generate Email Copy in the pipeline template, under the Campaign Agent in the agent
 * template and under Send Due Steps; the Ollama Chat Model against a loopback Ollama. The package's
 * own LLM credential is left off, so only the sub-node can have written. LLM calls equal variants,
 * never recipients; token counts equal what the server counted; a re-run is served from the cache.
 */
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { DAY, T0, UNSUBSCRIBE_URL, Workflow, csv250, manualRun, node, sequenceScheduler, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { OllamaSimulator } from '../simulators/ollamaServer';
import { contacts, csvOf } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

const SHOTS = 'test-artifacts/screenshots';
const e2e = useN8nRig();
const ollama = new OllamaSimulator(['llama3.2']);
const creds: Record<string, { id: string; name: string }> = {};

beforeAll(async () => {
	await ollama.start();
	const { n8n, r } = e2e;
	creds.openAiApi = { id: await n8n.createCredential('openAiApi', 'OpenAI (simulator)', { apiKey: 'sk-test', url: `${r.llm.baseUrl}/v1` }), name: 'OpenAI (simulator)' };
	creds.ollamaApi = { id: await n8n.createCredential('ollamaApi', 'Ollama (simulator)', { baseUrl: ollama.baseUrl }), name: 'Ollama (simulator)' };
});
afterAll(() => ollama.stop());

/** The rig's credentials without the package's own LLM credential: only a Chat Model sub-node can write copy. */
function withoutLlmCredential() {
	const { campaignLlmApi: _left, ...rest } = e2e.r.creds;
	return rest;
}

/** The OpenAI Chat Model of a template, on the simulator, with a model the simulator serves. */
function openAiModel(wf: Workflow, model = 'gpt-4o'): Workflow {
	const m = node(wf, 'OpenAI Chat Model') as ReturnType<typeof node> & { credentials?: unknown };
	(m.parameters.model as { value: string }).value = model;
	m.credentials = { openAiApi: creds.openAiApi };
	return wf;
}

type Raw = { data: { resultData: { runData: Record<string, Array<{ data?: Record<string, unknown> }>> } } };
const subNodeRuns = (raw: unknown, name: string) => (raw as Raw).data.resultData.runData[name] ?? [];

it("pipeline template with n8n's OpenAI Chat Model: 300 contacts × 2 variants → 2 calls, each contact sent once, tokens as the server counted, none on a re-run", async () => {
	const { n8n, r, q } = e2e;
	const wf = setContacts({ ...template('campaign-pipeline-chat-model.json'), id: 'e2eChatPipeline1', name: 'chat model pipeline' }, csvOf(contacts(300, 'chat.example')));
	const load = withUnsubscribe(node(wf, 'Load Campaign Content'));
	Object.assign(load.parameters, { campaignId: 'e2e-chat-pipeline', campaignOptions: { variants: 2, fallbacks: 'first_name=there', unsubscribeUrl: UNSUBSCRIBE_URL } });
	node(wf, 'Send Email (SendGrid)').parameters.dryRun = false;
	openAiModel(wf);
	r.llm.reset();
	const { id } = await n8n.importWorkflow(wf, withoutLlmCredential());
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();

	// One call per variant, from the sub-node's settings (model gpt-4o), structured by the package's strict JSON schema.
	expect(r.llm.calls).toBe(2);
	expect(r.llm.requests.map((x) => [x.model, x.responseFormat?.type, x.responseFormat?.json_schema?.name, x.responseFormat?.json_schema?.strict])).toEqual([
		['gpt-4o', 'json_schema', 'email_copy', true],
		['gpt-4o', 'json_schema', 'email_copy', true],
	]);
	const copied = out.nodes['Generate Email Copy'][0] as Array<{ variant: string; copy: { source: string; subject: string; model: string }; copy_stats: Record<string, unknown> }>;
	expect(copied[0].copy_stats).toMatchObject({ mode: 'llm', llm_calls: 2, prompt_tokens: r.llm.usage.prompt_tokens, completion_tokens: r.llm.usage.completion_tokens });
	expect(new Set(copied.map((c) => `${c.copy.source} ${c.copy.model}`))).toEqual(new Set(['llm gpt-4o']));
	// n8n shows each call on the sub-node, as for its own chains.
	expect(subNodeRuns(out.raw, 'OpenAI Chat Model')).toHaveLength(2);

	expect(r.sg.accepted).toHaveLength(300);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	const subjects = new Map(copied.map((c) => [c.variant, c.copy.subject]));
	for (const m of r.sg.accepted) expect(m.subject).toBe(subjects.get(m.customArgs.variant));
	expect((await deliveryStatuses(q, 'e2e-chat-pipeline', { mode: 'live' })).sent).toBe(300);

	// The same workflow again: the copy comes from the cache (keyed by the model's identity), nobody is sent twice.
	const again = await n8n.execute(id);
	expect(again.error).toBeUndefined();
	expect(r.llm.calls).toBe(2);
	expect((again.nodes['Generate Email Copy'][0][0].copy_stats as { copies: Array<{ cached: boolean }> }).copies.map((c) => c.cached)).toEqual([true, true]);
	expect(r.sg.accepted).toHaveLength(300);

	await screenshot(id, ['Generate Email Copy', 'OpenAI Chat Model'], 'chat-model-pipeline.png');
});

it('agent template with the OpenAI Chat Model: 245 valid contacts × 2 variants, 2 calls, tokens in the summary', async () => {
	const { n8n, r, q } = e2e;
	const wf = setContacts({ ...template('campaign-agent-chat-model.json'), id: 'e2eChatAgent0001', name: 'chat model agent' }, csv250('chat-agent.example'));
	const agent = withUnsubscribe(node(wf, 'Campaign Agent'));
	Object.assign(agent.parameters, { campaignId: 'e2e-chat-agent', dryRun: false, campaignOptions: { variants: 2, fallbacks: 'first_name=there', unsubscribeUrl: UNSUBSCRIBE_URL } });
	openAiModel(wf, 'gpt-4o-mini');
	r.llm.reset();
	const sentBefore = r.sg.accepted.length;
	const { id } = await n8n.importWorkflow(wf, withoutLlmCredential());
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	const summary = out.nodes['Campaign Agent'][0][0];
	expect(r.llm.calls).toBe(2);
	expect(new Set(r.llm.requests.map((x) => x.model))).toEqual(new Set(['gpt-4o-mini']));
	expect(summary).toMatchObject({ campaign_id: 'e2e-chat-agent', contacts: 245, invalid: 5, sent: 245, llm_calls: 2, llm_tokens: r.llm.usage.total_tokens });
	expect(r.sg.accepted.length - sentBefore).toBe(245);
	expect((await deliveryStatuses(q, 'e2e-chat-agent', { mode: 'live' })).sent).toBe(245);
	await screenshot(id, ['Campaign Agent', 'OpenAI Chat Model'], 'chat-model-agent.png');
});

it('Send Due Steps with a Chat Model: 40 enrolled contacts, step 1 due, one call', async () => {
	const { n8n, r } = e2e;
	const scheduler = sequenceScheduler(e2e, { csv: csvOf(contacts(40, 'chat-seq.example')), ids: { enroll: 'e2eChatSeqEnrol1', tick: 'e2eChatSeqTick01' }, name: 'chat model sequence' });
	expect(await scheduler.enroll(T0)).toMatchObject({ enrolled: 40 });
	const seq = template('sequence-scheduler.json');
	const send = node(seq, 'Send Due Steps');
	Object.assign(send.parameters, { asOf: new Date(T0 + DAY / 24).toISOString(), dryRun: false, copySource: 'llm' });
	const tick = manualRun(seq, send, 'e2eChatSeqTick02', 'chat model sequence tick');
	const pipeline = template('campaign-pipeline-chat-model.json');
	tick.nodes.push(node(pipeline, 'OpenAI Chat Model'));
	openAiModel(tick, 'gpt-4o-mini');
	(tick.connections as Record<string, unknown>)['OpenAI Chat Model'] = { ai_languageModel: [[{ node: 'Send Due Steps', type: 'ai_languageModel', index: 0 }]] };
	r.llm.reset();
	const sentBefore = r.sg.accepted.length;
	const { id } = await n8n.importWorkflow(tick, withoutLlmCredential());
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	expect(r.llm.calls).toBe(1);
	expect(out.nodes['Send Due Steps'][0][0]).toMatchObject({ step: 1, due: 40, counts: expect.objectContaining({ sent: 40 }) });
	const sent = r.sg.accepted.slice(sentBefore);
	expect(sent).toHaveLength(40);
	expect(new Set(sent.map((m) => m.subject)).size).toBe(1);
});

it('the Ollama Chat Model against a loopback Ollama: 2 variants → 2 calls with the JSON schema as format, counts from prompt_eval_count / eval_count', async () => {
	const { n8n, r } = e2e;
	const wf = setContacts({ ...template('campaign-pipeline-chat-model.json'), id: 'e2eChatOllama001', name: 'ollama pipeline' }, csvOf(contacts(50, 'ollama.example')));
	Object.assign(node(wf, 'Load Campaign Content').parameters, { campaignId: 'e2e-chat-ollama', campaignOptions: { variants: 2, fallbacks: 'first_name=there' } });
	// The OpenAI Chat Model swapped for n8n's Ollama Chat Model, connected the same way.
	const m = node(wf, 'OpenAI Chat Model') as ReturnType<typeof node> & { credentials?: unknown; typeVersion?: number };
	Object.assign(m, { name: 'Ollama Chat Model', type: '@n8n/n8n-nodes-langchain.lmChatOllama', typeVersion: 1, parameters: { model: 'llama3.2', options: {} }, credentials: { ollamaApi: creds.ollamaApi } });
	const connections = wf.connections as Record<string, unknown>;
	connections['Ollama Chat Model'] = connections['OpenAI Chat Model'];
	delete connections['OpenAI Chat Model'];
	r.llm.reset();
	const { id } = await n8n.importWorkflow(wf, withoutLlmCredential());
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	expect(ollama.calls).toBe(2);
	expect(r.llm.calls).toBe(0);
	for (const x of ollama.requests) {
		expect(x.model).toBe('llama3.2');
		expect(x.format).toMatchObject({ type: 'object', required: expect.arrayContaining(['subject', 'html', 'text']) });
		expect(x.messages.map((msg) => msg.role)).toEqual(['system', 'user']);
	}
	const copied = out.nodes['Generate Email Copy'][0] as Array<{ copy: { source: string; model: string }; copy_stats: { llm_calls: number; prompt_tokens: number; completion_tokens: number } }>;
	expect(copied[0].copy).toMatchObject({ source: 'llm', model: 'llama3.2' });
	expect(copied[0].copy_stats.llm_calls).toBe(2);
	expect(copied[0].copy_stats.prompt_tokens).toBeGreaterThan(0);
	expect(copied[0].copy_stats.completion_tokens).toBeGreaterThan(0);
	expect(out.nodes['Log Campaign Result'][0][0]).toMatchObject({ recipients: 50, dry_run: 50 });
});

/** The workflow on n8n's canvas, the Chat Model connected under its node (test-artifacts/screenshots). */
async function screenshot(workflowId: string, nodes: string[], file: string): Promise<void> {
	const { n8n } = e2e;
	mkdirSync(SHOTS, { recursive: true });
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	try {
		const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
		await page.goto(`${n8n.baseUrl}/signin`);
		await page.getByLabel(/email/i).fill(n8n.owner.email);
		await page.getByLabel(/password/i).fill(n8n.owner.password);
		await page.getByRole('button', { name: /sign in/i }).click();
		await page.waitForURL((u) => !u.pathname.includes('signin'), { timeout: 60_000 });
		await page.goto(`${n8n.baseUrl}/workflow/${workflowId}`);
		for (const name of nodes) await page.locator(`[data-test-id="canvas-node"][data-node-name="${name}"]`).first().waitFor({ timeout: 60_000 });
		// The sub-node's edge into the Chat Model input is drawn with the others.
		const saved = await n8n.rest<{ connections: Record<string, Record<string, unknown[][]>> }>('GET', `/workflows/${workflowId}`);
		const edges = Object.values(saved.connections).flatMap((byType) => Object.values(byType).flat(2)).length;
		expect(await page.locator('[data-test-id="edge"]').count()).toBe(edges);
		await page.screenshot({ path: `${SHOTS}/${file}` });
	} finally {
		await browser.close();
	}
}
