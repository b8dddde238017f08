/** The campaign definition as node parameters (or JSON), turned into the Campaign shape. */
import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { CampaignInputError, DEFAULT_STEPS, TONES } from '../../lib/schemas';
import { jsonParameter } from './items';
import { LANGUAGE_NAMES } from '../../lib/llm/prompts';
import { looksLikeHtml } from '../../lib/copy/format';

const show = { show: { campaignSource: ['fields'] } };

export const toneOptions = [
	...TONES.map((t) => ({ name: t[0].toUpperCase() + t.slice(1), value: t })),
	{ name: 'Custom', value: 'custom' },
];

export const languageOptions = [
	...Object.entries(LANGUAGE_NAMES)
		.filter(([code]) => code.length === 2 || code === 'pt-br')
		.map(([code, name]) => ({ name: `${name} (${code})`, value: code }))
		.sort((a, b) => a.name.localeCompare(b.name)),
	{ name: 'Other (BCP 47 Code)', value: 'custom' },
];

export const campaignProperties: INodeProperties[] = [
	{
		displayName: 'Campaign Source',
		name: 'campaignSource',
		type: 'options',
		options: [
			{ name: 'Define Below', value: 'fields', description: 'Fill in the campaign fields on this node' },
			{ name: 'JSON', value: 'json', description: 'Paste or map the whole campaign as JSON' },
			{ name: 'From Input Item', value: 'input', description: 'Read the campaign from a field of the first input item' },
		],
		default: 'fields',
	},
	{
		displayName: 'Campaign JSON',
		name: 'campaignJson',
		type: 'json',
		default: '{\n  "id": "spring-launch",\n  "from": { "email": "news@example.com", "name": "Example" },\n  "brief": { "product": "", "offer": "", "links": [] }\n}',
		displayOptions: { show: { campaignSource: ['json'] } },
		description: 'A campaign object: ID, from, replyTo, brief, tone, language, steps, variants, categories, unsubscribeUrl, fallbacks',
	},
	{
		displayName: 'Campaign Field',
		name: 'campaignField',
		type: 'string',
		default: 'campaign',
		displayOptions: { show: { campaignSource: ['input'] } },
		description: 'Name of the field in the first input item that holds the campaign object',
	},
	{
		displayName: 'Campaign ID',
		name: 'campaignId',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'spring-launch-2026',
		displayOptions: show,
		description: 'Stable identifier: a re-run with the same ID never emails a contact the same step twice',
	},
	{ displayName: 'Campaign Name', name: 'campaignName', type: 'string', default: '', displayOptions: show },
	{
		displayName: 'From Email',
		name: 'fromEmail',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'news@example.com',
		displayOptions: show,
		description: 'A sender verified in SendGrid (single sender or authenticated domain)',
	},
	{ displayName: 'From Name', name: 'fromName', type: 'string', default: '', displayOptions: show },
	{ displayName: 'Reply-To Email', name: 'replyTo', type: 'string', default: '', placeholder: 'support@example.com', displayOptions: show },
	{ displayName: 'Tone', name: 'tone', type: 'options', options: toneOptions, default: 'friendly', displayOptions: show },
	{
		displayName: 'Custom Tone',
		name: 'customTone',
		type: 'string',
		default: '',
		placeholder: 'calm and reassuring, like a trusted advisor',
		displayOptions: { show: { campaignSource: ['fields'], tone: ['custom'] } },
	},
	{ displayName: 'Language', name: 'language', type: 'options', options: languageOptions, default: 'en', displayOptions: show },
	{
		displayName: 'Language Code',
		name: 'customLanguage',
		type: 'string',
		default: '',
		placeholder: 'es-MX',
		displayOptions: { show: { campaignSource: ['fields'], language: ['custom'] } },
		description: 'Any BCP 47 code, e.g. es-MX, fr-CA, nb',
	},
	{
		displayName: 'Brief',
		name: 'brief',
		type: 'collection',
		placeholder: 'Add brief field',
		default: {},
		displayOptions: show,
		description: 'What the LLM writes about',
		options: [
			{ displayName: 'Audience', name: 'audience', type: 'string', default: '' },
			{ displayName: 'Call to Action', name: 'callToAction', type: 'string', default: '' },
			{ displayName: 'Links', name: 'links', type: 'string', default: '', description: 'Comma-separated URLs the copy may link to (no others are allowed)' },
			{ displayName: 'Notes', name: 'notes', type: 'string', typeOptions: { rows: 3 }, default: '' },
			{ displayName: 'Offer', name: 'offer', type: 'string', default: '' },
			{ displayName: 'Product', name: 'product', type: 'string', typeOptions: { rows: 2 }, default: '' },
		],
	},
	{
		displayName: 'Sequence',
		name: 'sequence',
		type: 'options',
		options: [
			{ name: 'Single Email', value: 'single' },
			{ name: 'Day 1 / Day 3 / Day 7', value: 'day137' },
			{ name: 'Custom Steps (JSON)', value: 'custom' },
		],
		default: 'single',
		displayOptions: show,
	},
	{
		displayName: 'Steps JSON',
		name: 'stepsJson',
		type: 'json',
		default: '[\n  { "step": 1, "delayHours": 0, "goal": "Introduce the offer" },\n  { "step": 2, "delayHours": 48, "goal": "Follow up" }\n]',
		displayOptions: { show: { campaignSource: ['fields'], sequence: ['custom'] } },
		description: 'Each step: step, delayHours, and optionally name, goal, subject, html, text, preheader, templateId (a SendGrid dynamic template, d-…: the copy and the contact fields become its data)',
	},
	{
		displayName: 'SendGrid Dynamic Template Name or ID',
		name: 'dynamicTemplate',
		type: 'options',
		typeOptions: { loadOptionsMethod: 'getDynamicTemplates' },
		default: '',
		displayOptions: { show: { campaignSource: ['fields'], sequence: ['single', 'day137'] } },
		description: 'Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>',
		hint: "Sends every step in this template (listed from the SendGrid credential's account): its data carries the step's copy ({{subject}}, {{preheader}}, {{{html}}}, {{text}}), the contact's fields, {{unsubscribe_url}} and {{postal_address}}. With Custom Steps, set templateId per step.",
	},
	{
		displayName: 'Template Subject',
		name: 'subject',
		type: 'string',
		default: '',
		placeholder: 'Hi {{first_name|there}}, our spring offer is here',
		displayOptions: show,
		description: 'Used for step 1 in template mode and as the fallback if the LLM fails. Merge tags: {{field}} or {{field|fallback}}.',
	},
	{
		displayName: 'Template Body',
		name: 'body',
		type: 'string',
		typeOptions: { rows: 6 },
		default: '',
		displayOptions: show,
		description: 'Step 1 body as HTML or plain text; the other part is derived from it',
	},
	{
		displayName: 'Options',
		name: 'campaignOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'A/B Variants',
				name: 'variants',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 5 },
				default: 1,
				description: 'Number of copy variants; each contact is assigned one deterministically',
			},
			{ displayName: 'Categories', name: 'categories', type: 'string', default: '', description: 'Comma-separated SendGrid categories (at most 10)' },
			{
				displayName: 'Merge Field Fallbacks',
				name: 'fallbacks',
				type: 'string',
				default: 'first_name=there',
				description: 'Comma-separated field=value pairs used when a contact lacks the field',
			},
			{
				displayName: 'Postal Address',
				name: 'postalAddress',
				type: 'string',
				default: '',
				placeholder: 'Acme Inc., 1 Main St, Springfield, IL 62701, USA',
				description: "The sender's physical postal address, printed in every message's footer (CAN-SPAM requires one in commercial email)",
			},
			{ displayName: 'Reply-To Name', name: 'replyToName', type: 'string', default: '' },
			{
				displayName: 'Transactional (No Unsubscribe Needed)',
				name: 'transactional',
				type: 'boolean',
				default: false,
				description: 'Whether these are transactional emails (receipts, password resets) that may go out live without an unsubscribe URL or group. Marketing campaigns must offer one.',
			},
			{
				displayName: 'Unsubscribe Group ID',
				name: 'unsubscribeGroupId',
				type: 'number',
				default: 0,
				description: 'SendGrid unsubscribe group (ASM) for this campaign; 0 for none',
			},
			{
				displayName: 'Unsubscribe URL',
				name: 'unsubscribeUrl',
				type: 'string',
				default: '',
				placeholder: 'https://n8n.example.com/webhook/…/unsubscribe',
				description: "The Campaign Unsubscribe Trigger's Production URL (https), or your own RFC 8058 endpoint. Each message carries a signed one-click link to it.",
			},
		],
	},
];

function list(s: unknown): string[] {
	return typeof s === 'string' ? s.split(',').map((x) => x.trim()).filter(Boolean) : [];
}

function pairs(s: unknown): Record<string, string> {
	const out: Record<string, string> = {};
	for (const p of list(s)) {
		const eq = p.indexOf('=');
		if (eq > 0) out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
	}
	return out;
}


/** Reads the campaign (as raw input for the zod schema) from the node's parameters. */
export function campaignFromParameters(ctx: IExecuteFunctions, i: number): unknown {
	const source = ctx.getNodeParameter('campaignSource', i) as string;
	if (source === 'json') return jsonParameter(ctx.getNodeParameter('campaignJson', i), 'Campaign JSON', 'campaignJson');
	if (source === 'input') {
		const field = ctx.getNodeParameter('campaignField', i) as string;
		const item = ctx.getInputData()[0]?.json as Record<string, unknown> | undefined;
		const value = item?.[field];
		if (value === undefined)
			throw new CampaignInputError(`The first input item has no "${field}" field — set Campaign Field to the field that holds the campaign`, 'campaignField').atItem(0);
		return jsonParameter(value, `The input field "${field}" (Campaign Field)`, 'campaignField');
	}
	const get = <T>(name: string, fallback: T): T => ctx.getNodeParameter(name, i, fallback as never) as T;
	const brief = get<Record<string, string>>('brief', {});
	const options = get<Record<string, unknown>>('campaignOptions', {});
	const sequence = get<string>('sequence', 'single');
	const subject = get('subject', '');
	const body = get('body', '');
	const bodyIsHtml = looksLikeHtml(body);
	const template = subject && body ? { subject, ...(bodyIsHtml ? { html: body } : { text: body }) } : {};
	let steps: unknown[];
	const dynamicTemplate = String(get('dynamicTemplate', '') ?? '').trim();
	const layout = dynamicTemplate ? { templateId: dynamicTemplate } : {};
	if (sequence === 'custom') steps = jsonParameter(ctx.getNodeParameter('stepsJson', i), 'Steps JSON', 'stepsJson') as unknown[];
	else if (sequence === 'day137') steps = DEFAULT_STEPS.map((s, n) => (n === 0 ? { ...s, ...template, ...layout } : { ...s, ...layout }));
	else steps = [{ step: 1, delayHours: 0, ...template, ...layout }];
	const tone = get<string>('tone', 'friendly');
	const language = get<string>('language', 'en');
	const replyTo = get('replyTo', '');
	return {
		id: get('campaignId', ''),
		name: get('campaignName', '') || undefined,
		from: { email: get('fromEmail', ''), name: get('fromName', '') || undefined },
		replyTo: replyTo ? { email: replyTo, name: (options.replyToName as string) || undefined } : undefined,
		tone: tone === 'custom' ? get('customTone', '') : tone,
		language: language === 'custom' ? get('customLanguage', '') : language,
		brief: { ...brief, links: list(brief.links) },
		steps,
		variants: options.variants ?? 1,
		categories: list(options.categories),
		fallbacks: pairs(options.fallbacks ?? 'first_name=there'),
		unsubscribeUrl: (options.unsubscribeUrl as string) || undefined,
		unsubscribeGroupId: Number(options.unsubscribeGroupId) > 0 ? Number(options.unsubscribeGroupId) : undefined,
		transactional: options.transactional === true,
		postalAddress: (options.postalAddress as string)?.trim() || undefined,
	};
}
