import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { parseSeeds, previewFindings, previewPage, previewSamples, sendTests, type TestSendResult } from '../../lib/preview/preview';
import { nodeError, sendGrid } from '../shared/context';
import { payloadsFromItems } from '../shared/items';

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
		inputs: ['main'],
		outputs: ['main'],
		credentials: [{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { sendTest: [true] } } }],
		properties: [
			{
				displayName: 'Put this node after Generate Email Copy (or Build Email Payload, for template copy). Nothing is claimed, stored or counted here.',
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
		try {
			const payloads = payloadsFromItems(this.getInputData());
			const samples = previewSamples(payloads, { samples: this.getNodeParameter('samples', 0, 3) as number });
			const findings = previewFindings(payloads, this.getNodeParameter('live', 0, true) as boolean);
			let tests: TestSendResult[] | undefined;
			if (this.getNodeParameter('sendTest', 0, false)) {
				const seeds = parseSeeds(this.getNodeParameter('seeds', 0, '') as string);
				const { transport } = await sendGrid(this);
				tests = await sendTests(payloads, seeds, transport, { sandbox: this.getNodeParameter('sandbox', 0, false) as boolean });
			}
			if (this.getNodeParameter('output', 0) === 'page')
				return [[{ json: { html: previewPage(samples, findings), findings, test_sends: tests } as unknown as IDataObject }]];
			return [
				samples.map((s) => ({
					json: {
						...s,
						findings: findings.filter((f) => f.step === s.step && f.variant === s.variant),
						test_send: tests?.find((t) => t.step === s.step && t.variant === s.variant),
					} as unknown as IDataObject,
				})),
			];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
