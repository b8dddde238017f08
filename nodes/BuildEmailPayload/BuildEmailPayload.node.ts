import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { planEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { audienceField, audienceOptionsOf } from '../shared/audienceFields';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { newRunId } from '../../lib/ids';
import { contactsFromItems, errorItem, failItems, inInputOrder, inputError, jsonParameter, pairedAll, pairedWith } from '../shared/items';
import { nodeError } from '../shared/context';
import { RECIPIENTS_IN_JSON_LIMIT, builtPayloadItem, withContactFiles } from '../shared/batchFiles';

export class BuildEmailPayload implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Build Email Payload',
		name: 'buildEmailPayload',
		icon: 'file:buildEmailPayload.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{"step " + $parameter["step"]}}',
		description: 'Turn contacts and a campaign step into SendGrid-ready batches: one item per request of up to 1,000 recipients (on large runs in a binary file per item)',
		defaults: { name: 'Build Email Payload' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Requests', 'Audience'],
		properties: [
			{
				displayName: 'Campaign Source',
				name: 'campaignSource',
				type: 'options',
				options: [
					{ name: 'From Input Items', value: 'input', description: 'The campaign that Load Campaign Content attached to the items' },
					{ name: 'JSON', value: 'json' },
				],
				default: 'input',
			},
			{
				displayName: 'Campaign JSON',
				name: 'campaignJson',
				type: 'json',
				default: '{}',
				displayOptions: { show: { campaignSource: ['json'] } },
				description: 'A campaign object: ID, from, brief, tone, language, steps, variants',
			},
			{
				displayName: 'Step',
				name: 'step',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 1,
				description: 'Which step of the campaign sequence to build (1 = the first email)',
			},
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 1000 },
				default: 1000,
				description: 'Recipients per SendGrid request (SendGrid allows up to 1,000). 1 sends one request per recipient.',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				options: [
					{ displayName: 'Click Tracking', name: 'clickTracking', type: 'boolean', default: true },
					audienceField.defaultTimeZone,
					audienceField.languageField,
					audienceField.localSendTime,
					{ displayName: 'Open Tracking', name: 'openTracking', type: 'boolean', default: true },
					{
						displayName: 'Recipients',
						name: 'recipientsAs',
						type: 'options',
						options: [
							{ name: 'Auto', value: 'auto', description: `In each item's JSON up to ${RECIPIENTS_IN_JSON_LIMIT.toLocaleString('en-US')} recipients in all, in a binary file per item above` },
							{ name: 'In JSON', value: 'json', description: 'Each item\'s "recipients" list' },
							{ name: 'In a Binary File', value: 'file', description: 'Each item\'s binary "recipients" (a JSON file) and "recipient_count" in its JSON' },
						],
						default: 'auto',
						description: 'Where each request\'s recipients go. n8n keeps every node\'s output of a run: on large runs a file per request keeps that small. Generate Email Copy and Send Email read either.',
					},
					{
						displayName: 'Run ID',
						name: 'runId',
						type: 'string',
						default: '',
						description: 'Overrides the run ID from the input items',
					},
					{
						displayName: 'Sandbox Mode',
						name: 'sandbox',
						type: 'boolean',
						default: false,
						description: 'Whether SendGrid should validate the requests without delivering them',
					},
					{
						displayName: 'Send At',
						name: 'sendAt',
						type: 'dateTime',
						default: '',
						description: 'Schedule delivery at SendGrid, at most 72 hours ahead (one instant for everyone; Local Send Time gives each contact their own)',
					},
					audienceField.timeZoneField,
				],
			},
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		// Load Campaign Content's batches on large lists carry their contacts in a binary file each: read here.
		const { items, bad } = await withContactFiles(this, this.getInputData());
		if (bad.length > 0 && !this.continueOnFail()) throw nodeError(node, bad[0].error, bad[0].item);
		const fromItems = contactsFromItems(items);
		// A contact that is not usable fails its own item; the other contacts are built (Continue On Fail).
		const errors: INodeExecutionData[] = bad.map((b) => errorItem(node, b.error, b.item));
		const hint = 'Put Load Campaign Content before this node to validate contacts and route bad rows to its Invalid output';
		if (fromItems.invalid.length > 0) {
			if (!this.continueOnFail()) {
				const first = fromItems.invalid[0];
				throw nodeError(
					node,
					inputError(
						`${fromItems.invalid.length} input contact(s) are not usable; the first (contact ${first.row}, "${first.email}"): ${first.reason}`,
						'email',
						hint,
					),
					fromItems.rowItem[first.row - 1],
				);
			}
			for (const r of fromItems.invalid) {
				const item = fromItems.rowItem[r.row - 1];
				errors.push(errorItem(node, inputError(`Contact ${r.row} ("${r.email}") is not usable: ${r.reason}`, 'email', hint), item, { item }, { row: r.row, email: r.email }));
			}
		}
		const used = [...new Set(fromItems.contactItem)];
		if (fromItems.contacts.length === 0 && errors.length > 0) return [errors, []];
		try {
			const campaign = parseCampaign(campaignOf(this, fromItems.campaign));
			const options = this.getNodeParameter('options', 0, {}) as Record<string, unknown>;
			const runId = (options.runId as string) || fromItems.runId || newRunId();
			const sendAt = options.sendAt ? Math.floor(new Date(options.sendAt as string).getTime() / 1000) : undefined;
			const step = this.getNodeParameter('step', 0) as number;
			const { payloads, audience } = planEmailPayloads(campaign, fromItems.contacts, runId, {
				step,
				batchSize: this.getNodeParameter('batchSize', 0) as number,
				sendAt,
				sandbox: options.sandbox === true,
				tracking:
					options.clickTracking !== undefined || options.openTracking !== undefined
						? { clickTracking: options.clickTracking as boolean | undefined, openTracking: options.openTracking as boolean | undefined }
						: undefined,
				...audienceOptionsOf(options),
			});
			// Each request pairs with the input items its recipients came from (one batch item, or many contact items).
			const itemOf = new Map<string, number>();
			fromItems.contacts.forEach((c, k) => itemOf.set(c.email, fromItems.contactItem[k]));
			// Large runs: each request's recipients in a binary file of its own, so n8n does not keep them in every node's JSON.
			const recipientsAs = (options.recipientsAs as string | undefined) ?? 'auto';
			const total = payloads.reduce((n, p) => n + p.recipients.length, 0);
			const inFile = recipientsAs === 'file' || (recipientsAs === 'auto' && total > RECIPIENTS_IN_JSON_LIMIT);
			const out: INodeExecutionData[] = [];
			for (const p of payloads) out.push({ ...(await builtPayloadItem(this, p, inFile)), pairedItem: pairedWith(p.recipients.map((r) => itemOf.get(r.email) ?? 0)) });
			// One summary of the audience: languages, fallbacks, send instants, who is left for a later run.
			const report = { json: { campaign_id: campaign.id, run_id: runId, step, requests: payloads.length, ...audience } as unknown as INodeExecutionData['json'], pairedItem: pairedAll(items.length) };
			return [[...out, ...errors], [report]];
		} catch (e) {
			return [inInputOrder([...errors, ...failItems(this, e, used)]), []];
		}
	}
}

/** The campaign: the Campaign JSON parameter, or the one Load Campaign Content attached to the items. */
function campaignOf(ctx: IExecuteFunctions, fromItems: unknown): unknown {
	if (ctx.getNodeParameter('campaignSource', 0) === 'json') return jsonParameter(ctx.getNodeParameter('campaignJson', 0), 'Campaign JSON', 'campaignJson');
	if (!fromItems) throw inputError('The input items carry no campaign — connect Load Campaign Content, or set Campaign Source to JSON', 'campaignSource');
	return fromItems;
}
