import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { campaignStore, nodeError } from '../shared/context';
import { readCopy } from '../shared/readers';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { payloadsFromItems } from '../shared/items';
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
		outputs: ['main'],
		credentials: [{ name: 'campaignLlmApi', required: false }, { name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			...copyProperties,
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			const payloads = payloadsFromItems(this.getInputData());
			const { options, chat } = await readCopy(this);
			const store = options.mode === 'llm' ? await campaignStore(this) : undefined;
			const result = await generateEmailCopy(payloads, options, { chat, store });
			const mode = options.mode;
			const campaignTokens = store && result.payloads[0] ? await store.campaignTokenUsage(result.payloads[0].campaign_id) : undefined;
			const stats = { mode, llm_calls: result.llmCalls, ...result.usage, campaign_tokens: campaignTokens, copies: result.copies };
			return [result.payloads.map((p) => ({ json: { ...p, copy_stats: stats } as unknown as INodeExecutionData['json'] }))];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
