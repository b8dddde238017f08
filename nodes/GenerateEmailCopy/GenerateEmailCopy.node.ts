import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { campaignStore, nodeError } from '../shared/context';
import { readCopy } from '../shared/readers';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { errorItem, failItems, inInputOrder } from '../shared/items';
import { payloadItemsWithFiles, payloadOutput } from '../shared/batchFiles';
import { copyNodeInputs, copyProperties } from '../shared/properties';

export class GenerateEmailCopy implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Generate Email Copy',
		name: 'generateEmailCopy',
		icon: 'file:generateEmailCopy.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["copySource"]}}',
		description: 'Write subject, preheader, html and text per variant with an LLM (a connected Chat Model or the LLM credential; cached), or use the campaign template',
		defaults: { name: 'Generate Email Copy' },
		usableAsTool: true,
		inputs: copyNodeInputs,
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'campaignLlmApi', required: false }, { name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			...copyProperties,
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		const input = this.getInputData();
		// Copy is written per step, variant, language and tone: only per-recipient personalization reads the recipients.
		// Otherwise a batch's recipients file is handed on unread (Send Email reads and checks it).
		const personalizeFields = (this.getNodeParameter('options', 0, {}) as Record<string, unknown>).personalizeFields;
		const { ok, bad } = await payloadItemsWithFiles(this, input, typeof personalizeFields === 'string' && personalizeFields.trim() !== '');
		// An item that is not a payload fails on its own; the others get their copy (Continue On Fail).
		if (bad.length > 0 && !this.continueOnFail()) throw nodeError(node, bad[0].error, bad[0].item);
		const errors = bad.map((b) => errorItem(node, b.error, b.item));
		if (ok.length === 0 && errors.length > 0) return [errors];
		try {
			// The copy stage may regroup payloads (and splits them per recipient when personalizing): each keeps its item under a symbol.
			const payloads = ok.map(({ payload, item }) => Object.assign(payload, { [ITEM]: item }));
			// A batch whose recipients came in a file hands that file on (per-recipient copy makes one item per recipient, in JSON).
			const fileOf = new Map(ok.map((o) => [o.item, o.file]));
			const { options, chat } = await readCopy(this);
			const store = options.mode === 'llm' ? await campaignStore(this) : undefined;
			const result = await generateEmailCopy(payloads, options, { chat, store });
			const mode = options.mode;
			const campaignTokens = store && result.payloads[0] ? await store.campaignTokenUsage(result.payloads[0].campaign_id) : undefined;
			const stats = { mode, llm_calls: result.llmCalls, ...result.usage, campaign_tokens: campaignTokens, copies: result.copies };
			const out = result.payloads.map((p) => {
				const { [ITEM]: item, ...payload } = p as typeof p & { [ITEM]?: number };
				const file = options.personalize && mode === 'llm' ? undefined : fileOf.get(item ?? 0);
				return { ...payloadOutput(payload, input[item ?? 0], file, { copy_stats: stats }), pairedItem: { item: item ?? 0 } };
			});
			return [inInputOrder([...out, ...errors])];
		} catch (e) {
			return [inInputOrder([...errors, ...failItems(this, e, ok.map((o) => o.item))])];
		}
	}
}

/** The input item a payload came from, carried through the copy stage (spread copies it; JSON never sees it). */
const ITEM = Symbol('item');
