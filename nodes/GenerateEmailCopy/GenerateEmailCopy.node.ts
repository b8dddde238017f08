import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { CREDENTIALS, campaignStore, chatModel, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { payloadsFromItems } from '../shared/items';
import { languageOptions, toneOptions } from '../LoadCampaignContent/campaignFields';

export class GenerateEmailCopy implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Generate Email Copy',
		name: 'generateEmailCopy',
		icon: 'file:generateEmailCopy.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["copySource"]}}',
		description: 'Write subject, preheader, html and text per variant with an LLM (cached), or use the campaign template',
		defaults: { name: 'Generate Email Copy' },
		usableAsTool: true,
		inputs: ['main'],
		outputs: ['main'],
		credentials: [{ name: 'campaignLlmApi', required: false }, { name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Copy Source',
				name: 'copySource',
				type: 'options',
				options: [
					{ name: 'Auto', value: 'auto', description: 'AI copy when an LLM credential is selected, otherwise the campaign template' },
					{ name: 'AI (LLM)', value: 'llm', description: 'Write copy with the LLM credential' },
					{ name: 'Campaign Template', value: 'template', description: "Use the step's own subject and body; no LLM call" },
				],
				default: 'auto',
			},
			{
				displayName: 'Tone',
				name: 'tone',
				type: 'options',
				options: [{ name: "Campaign's Tone", value: 'campaign' }, ...toneOptions],
				default: 'campaign',
				displayOptions: { hide: { copySource: ['template'] } },
			},
			{
				displayName: 'Custom Tone',
				name: 'customTone',
				type: 'string',
				default: '',
				displayOptions: { show: { tone: ['custom'] } },
			},
			{
				displayName: 'Language',
				name: 'language',
				type: 'options',
				options: [{ name: "Campaign's Language", value: 'campaign' }, ...languageOptions],
				default: 'campaign',
				displayOptions: { hide: { copySource: ['template'] } },
			},
			{
				displayName: 'Language Code',
				name: 'customLanguage',
				type: 'string',
				default: '',
				placeholder: 'es-MX',
				displayOptions: { show: { language: ['custom'] } },
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				displayOptions: { hide: { copySource: ['template'] } },
				options: [
					{
						displayName: 'If the LLM Fails',
						name: 'onLlmFailure',
						type: 'options',
						options: [
							{ name: 'Stop With an Error', value: 'error' },
							{ name: 'Use the Campaign Template', value: 'template' },
						],
						default: 'error',
					},
					{ displayName: 'Max Attempts', name: 'maxAttempts', type: 'number', typeOptions: { minValue: 1, maxValue: 6 }, default: 3, description: 'Tries per variant when the output fails validation' },
					{ displayName: 'Max Body Words', name: 'maxWords', type: 'number', default: 150 },
					{ displayName: 'Max Subject Characters', name: 'maxSubjectChars', type: 'number', default: 78, description: 'Recommended subject length (mobile inboxes cut around 40-78)' },
					{
						displayName: 'Merge Tags Allowed',
						name: 'mergeTags',
						type: 'string',
						default: 'first_name',
						description: 'Comma-separated contact fields the copy may use as {{field}}; every other tag is rejected',
					},
					{ displayName: 'Model', name: 'model', type: 'string', default: '', description: "Overrides the credential's default model" },
				],
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			const payloads = payloadsFromItems(this.getInputData());
			const source = this.getNodeParameter('copySource', 0) as string;
			const hasLlm = Boolean(node.credentials?.[CREDENTIALS.llm]);
			const mode = source === 'template' || (source === 'auto' && !hasLlm) ? 'template' : 'llm';
			const options = this.getNodeParameter('options', 0, {}) as Record<string, unknown>;
			const pick = (name: string, custom: string) => {
				const v = this.getNodeParameter(name, 0, 'campaign') as string;
				return v === 'campaign' ? undefined : v === 'custom' ? (this.getNodeParameter(custom, 0) as string) : v;
			};
			const chat = mode === 'llm' ? await chatModel(this, options.model as string | undefined) : undefined;
			const store = mode === 'llm' ? await campaignStore(this) : undefined;
			const result = await generateEmailCopy(
				payloads,
				{
					mode,
					onLlmFailure: (options.onLlmFailure as 'error' | 'template') ?? 'error',
					tone: mode === 'llm' ? pick('tone', 'customTone') : undefined,
					language: mode === 'llm' ? pick('language', 'customLanguage') : undefined,
					maxWords: options.maxWords as number | undefined,
					maxSubjectChars: options.maxSubjectChars as number | undefined,
					mergeTags: typeof options.mergeTags === 'string' ? options.mergeTags.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
					write: { maxAttempts: (options.maxAttempts as number | undefined) ?? 3 },
				},
				{ chat, store },
			);
			const campaignTokens = store && result.payloads[0] ? await store.campaignTokenUsage(result.payloads[0].campaign_id) : undefined;
			const stats = { mode, llm_calls: result.llmCalls, ...result.usage, campaign_tokens: campaignTokens, copies: result.copies };
			return [result.payloads.map((p) => ({ json: { ...p, copy_stats: stats } as unknown as INodeExecutionData['json'] }))];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
