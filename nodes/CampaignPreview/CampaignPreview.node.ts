import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { CampaignInputError } from '../../lib/schemas';
import { loadTemplateVersions, parseSeeds, previewFindings, previewPage, previewSamples, sendTests, type TemplateVersions, type TestSendResult } from '../../lib/preview/preview';
import { CREDENTIALS, nodeError, sendGrid } from '../shared/context';
import { errorItem, failItems, inInputOrder, pairedWith } from '../shared/items';
import { payloadItemsWithFiles } from '../shared/batchFiles';

export class CampaignPreview implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Preview',
		name: 'campaignPreview',
		icon: 'file:campaignPreview.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["sendTest"] ? "preview + test send" : "preview"}}',
		description: 'Preview each step and variant for sample contacts, run the preflight checks, and send yourself a test',
		defaults: { name: 'Campaign Preview' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		// Optional: test sends need it, and with it the preview renders dynamic template steps in their template.
		credentials: [{ name: 'sendGridCampaignApi', required: false }],
		properties: [
			{
				displayName:
					'Put this node after Generate Email Copy (or Build Email Payload, for template copy). Nothing is claimed, stored or counted here. With a SendGrid credential, steps sent with a dynamic template are shown rendered in that template.',
				name: 'placementNotice',
				type: 'notice',
				default: '',
			},
			{ displayName: 'Sample Contacts', name: 'samples', type: 'number', typeOptions: { minValue: 1, maxValue: 20 }, default: 3, description: 'How many contacts of each step and variant to render the message for' },
			{
				displayName: 'Output',
				name: 'output',
				type: 'options',
				options: [
					{ name: 'One Item per Sample', value: 'samples', description: 'Subject, preheader, html and text per sample contact, with the findings of its variant' },
					{ name: 'One HTML Page', value: 'page', description: 'One item whose html field is a page with every variant side by side (serve it with Respond to Webhook)' },
				],
				default: 'samples',
			},
			{ displayName: 'Check as Live Send', name: 'live', type: 'boolean', default: true, description: 'Whether to check what a live send needs too (an unsubscribe mechanism)' },
			{ displayName: 'Send Test', name: 'sendTest', type: 'boolean', default: false, description: 'Whether to send each variant to the seed addresses: real SendGrid requests marked as tests, never claimed or counted' },
			{
				displayName: 'Seed Addresses',
				name: 'seeds',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'me@example.com, team@example.com',
				description: 'Up to 20 addresses, separated by commas or new lines',
				displayOptions: { show: { sendTest: [true] } },
			},
			{ displayName: 'Sandbox Mode', name: 'sandbox', type: 'boolean', default: false, description: 'Whether SendGrid only validates the test requests without delivering them', displayOptions: { show: { sendTest: [true] } } },
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		// Batches from a large Build Email Payload carry their recipients in a binary file: read from there.
		const { ok, bad } = await payloadItemsWithFiles(this, this.getInputData());
		// An item that is not a payload fails on its own; the others are previewed (Continue On Fail).
		if (bad.length > 0 && !this.continueOnFail()) throw nodeError(node, bad[0].error, bad[0].item);
		const errors = bad.map((b) => errorItem(node, b.error, b.item));
		if (ok.length === 0 && errors.length > 0) return [errors];
		try {
			const payloads = ok.map((o) => o.payload);
			const sendTest = this.getNodeParameter('sendTest', 0, false) as boolean;
			const hasSendGrid = !!node.credentials?.[CREDENTIALS.sendGrid];
			if (sendTest && !hasSendGrid)
				throw nodeError(node, new CampaignInputError('Send Test needs a SendGrid credential: select one on this node, or turn Send Test off', 'Credential to connect with'));
			const transport = hasSendGrid ? (await sendGrid(this)).transport : undefined;
			let templates: TemplateVersions | undefined;
			if (transport && payloads.some((p) => p.template_id)) templates = await loadTemplateVersions(payloads, transport);
			const samples = previewSamples(payloads, { samples: this.getNodeParameter('samples', 0, 3) as number, templates });
			const findings = previewFindings(payloads, this.getNodeParameter('live', 0, true) as boolean);
			let tests: TestSendResult[] | undefined;
			if (sendTest && transport) {
				const seeds = parseSeeds(this.getNodeParameter('seeds', 0, '') as string);
				tests = await sendTests(payloads, seeds, transport, { sandbox: this.getNodeParameter('sandbox', 0, false) as boolean });
			}
			if (this.getNodeParameter('output', 0) === 'page')
				return [[{ json: { html: previewPage(samples, findings), findings, test_sends: tests } as unknown as IDataObject, pairedItem: pairedWith(ok.map((o) => o.item)) }, ...errors]];
			// Each sample pairs with the payload item its contact is in.
			const key = (step: number, variant: string, email: string) => `${step}\u0000${variant}\u0000${email}`;
			const itemOf = new Map<string, number>();
			for (const o of ok) for (const r of o.payload.recipients) itemOf.set(key(o.payload.step, o.payload.variant, r.email), o.item);
			const out: INodeExecutionData[] = samples.map((s) => ({
				json: {
					...s,
					findings: findings.filter((f) => f.step === s.step && f.variant === s.variant && (f.language === undefined || f.language === s.language)),
					test_send: tests?.find((t) => t.step === s.step && t.variant === s.variant && t.language === s.language),
				} as unknown as IDataObject,
				pairedItem: { item: itemOf.get(key(s.step, s.variant, s.contact)) ?? ok[0].item },
			}));
			return [inInputOrder([...out, ...errors])];
		} catch (e) {
			return [inInputOrder([...errors, ...failItems(this, e, ok.map((o) => o.item))])];
		}
	}
}
