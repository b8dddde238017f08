/**
 * The Chat Model sub-node input on the nodes that write copy: Generate Email Copy and the Campaign
 * Agent always, Campaign Sequence for Send Due Steps only. Each node is run with a stand-in for n8n's
 * execute context that hands over a LangChain-like model the way getInputConnectionData does.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeHelpers, Workflow } from 'n8n-workflow';
import type { IExecuteFunctions, INode, INodeExecutionData, INodeInputConfiguration, INodeType, INodeTypes } from 'n8n-workflow';
import { GenerateEmailCopy } from '../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { CampaignAgent } from '../../nodes/CampaignAgent/CampaignAgent.node';
import { CampaignSequence } from '../../nodes/CampaignSequence/CampaignSequence.node';
import { closeAllStores } from '../../lib/store';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { campaignInput, contacts } from '../helpers/fixtures';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-chat-input-'));
afterAll(() => closeAllStores());

const copy = {
	subject: 'Spring deals for {{first_name|there}}',
	preheader: 'Twenty percent off all skates',
	html: '<p>Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p>',
	text: 'Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.\n\nShop the sale: https://acme.example/sale',
	language: 'en',
};

/** What an OpenAI Chat Model sub-node supplies, reduced to what the package uses. */
function model(name = 'gpt-4o-mini') {
	const calls: unknown[] = [];
	const raw = { content: JSON.stringify(copy), usage_metadata: { input_tokens: 100, output_tokens: 40 }, response_metadata: { model_name: name, finish_reason: 'stop' } };
	return {
		calls,
		model: name,
		_llmType: () => 'openai',
		invoke: async (messages: unknown) => (calls.push(messages), raw),
		withStructuredOutput: () => ({ invoke: async (messages: unknown) => (calls.push(messages), { raw, parsed: copy }) }),
	};
}

const MAIN: INodeInputConfiguration = { type: 'main' };
const CHAT: INodeInputConfiguration = { type: 'ai_languageModel', displayName: 'Chat Model', required: false, maxConnections: 1 };

interface Options {
	inputs?: INodeInputConfiguration[];
	connected?: unknown;
	credentials?: INode['credentials'];
}
function context(params: Record<string, unknown>, items: INodeExecutionData[], o: Options = {}) {
	const asked: string[] = [];
	const ctx = {
		getNodeParameter: (name: string, _i: number, fallback?: unknown) => (name in params ? params[name] : fallback),
		getInputData: () => items,
		getNode: () => ({ id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: o.credentials }),
		getNodeInputs: () => o.inputs ?? [MAIN, CHAT],
		getInputConnectionData: async (type: string, index: number) => {
			asked.push(`${type}#${index}`);
			// As n8n does for an optional input with maxConnections 1 and nothing connected.
			return o.connected;
		},
		getCredentials: async (type: string) => {
			asked.push(`credentials:${type}`);
			throw new Error('no credentials in this test');
		},
		getExecutionCancelSignal: () => new AbortController().signal,
		continueOnFail: () => false,
		getMode: () => 'manual',
		sendMessageToUI: () => undefined,
	};
	return { ctx: ctx as unknown as IExecuteFunctions, asked };
}

const items = (id: string, n = 2500, variants = 2): INodeExecutionData[] =>
	buildEmailPayloads(parseCampaign(campaignInput({ id, variants })), contacts(n), 'run_1', { step: 1, batchSize: 1000 }).map((p) => ({ json: p as unknown as INodeExecutionData['json'] }));

describe('the nodes that write copy declare an optional Chat Model input', () => {
	it('Generate Email Copy and the Campaign Agent: items, and one optional ai_languageModel input', () => {
		for (const node of [new GenerateEmailCopy(), new CampaignAgent()]) expect(node.description.inputs).toEqual(['main', CHAT]);
	});

	it('Campaign Sequence: on Send Due Steps (its default) only, as n8n works the inputs out', () => {
		const type = new CampaignSequence() as INodeType;
		const nodeTypes = { getByName: () => type, getByNameAndVersion: () => type, getKnownTypes: () => ({}) } as unknown as INodeTypes;
		const inputsFor = (parameters: INode['parameters']) => {
			const node: INode = { id: '1', name: 'Sequence', type: 'x.campaignSequence', typeVersion: 1, position: [0, 0], parameters };
			const wf = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
			return NodeHelpers.getNodeInputs(wf, wf.getNode('Sequence')!, type.description);
		};
		expect(inputsFor({ operation: 'sendDue' })).toEqual(['main', CHAT]);
		expect(inputsFor({})).toEqual(['main', CHAT]);
		for (const operation of ['enroll', 'status', 'pause', 'resume', 'abDecide']) expect(inputsFor({ operation })).toEqual(['main']);
	});
});

describe('Generate Email Copy with a Chat Model connected', () => {
	it('Auto writes with it: one call per variant for 2,500 recipients, token counts in copy_stats, no credential read', async () => {
		const m = model();
		const { ctx, asked } = context({ copySource: 'auto', options: {} }, items('node-chat'), { connected: m });
		const out = await new GenerateEmailCopy().execute.call(ctx);
		expect(asked).toEqual(['ai_languageModel#0']);
		expect(m.calls).toHaveLength(2);
		const stats = out[0][0].json.copy_stats as Record<string, unknown>;
		expect(stats).toMatchObject({ mode: 'llm', llm_calls: 2, prompt_tokens: 200, completion_tokens: 80, campaign_tokens: { prompt_tokens: 200, completion_tokens: 80 } });
		expect(out[0].map((i) => (i.json.copy as { source: string; model: string }).source)).toEqual(out[0].map(() => 'llm'));
		expect((out[0][0].json.copy as { model: string }).model).toBe('gpt-4o-mini');
	});

	it('comes before an LLM credential that is also selected', async () => {
		const m = model('llama3.2');
		const { ctx, asked } = context({ copySource: 'llm', options: {} }, items('node-both', 10, 1), { connected: m, credentials: { campaignLlmApi: { id: '1', name: 'LLM' } } });
		await new GenerateEmailCopy().execute.call(ctx);
		expect(asked).toEqual(['ai_languageModel#0']);
		expect(m.calls).toHaveLength(1);
	});

	it('Campaign Template never asks for the model; Auto with nothing connected and no credential uses the template', async () => {
		const m = model();
		const template = context({ copySource: 'template', options: {} }, items('node-template', 10, 1), { connected: m });
		expect((await new GenerateEmailCopy().execute.call(template.ctx))[0][0].json.copy_stats).toMatchObject({ mode: 'template', llm_calls: 0 });
		expect(template.asked).toEqual([]);
		const none = context({ copySource: 'auto', options: {} }, items('node-none', 10, 1));
		expect((await new GenerateEmailCopy().execute.call(none.ctx))[0][0].json.copy_stats).toMatchObject({ mode: 'template' });
		expect(none.asked).toEqual(['ai_languageModel#0']);
	});

	it('AI (LLM) with neither says both ways in; something that is not a model is named', async () => {
		const none = context({ copySource: 'llm', options: {} }, items('node-llm-none', 10, 1));
		await expect(new GenerateEmailCopy().execute.call(none.ctx)).rejects.toThrow('AI copy needs a Chat Model or an LLM credential');
		const odd = context({ copySource: 'auto', options: {} }, items('node-odd', 10, 1), { connected: { call: () => 'hi' } });
		await expect(new GenerateEmailCopy().execute.call(odd.ctx)).rejects.toThrow('The node connected as Chat Model did not supply a chat model');
	});

	it('a node without the input (Campaign Sequence on other operations) never asks n8n for it', async () => {
		const { ctx, asked } = context({ copySource: 'auto', options: {} }, items('node-no-input', 10, 1), { inputs: [MAIN], connected: model() });
		expect((await new GenerateEmailCopy().execute.call(ctx))[0][0].json.copy_stats).toMatchObject({ mode: 'template' });
		expect(asked).toEqual([]);
	});
});
