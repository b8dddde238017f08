/** Parameter groups shared by the stage nodes and the Campaign Agent, with the code that reads them. */
import type { INodeInputConfiguration, INodeProperties, NodeConnectionType } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { languageOptions, toneOptions } from './campaignFields';

export const PER_CONTACT_LIMIT = 1000;

/** The optional Chat Model sub-node input of a node that writes copy (as on n8n's Basic LLM Chain, but not required). */
export const chatModelInput: INodeInputConfiguration = { type: NodeConnectionTypes.AiLanguageModel, displayName: 'Chat Model', required: false, maxConnections: 1 };

/** Inputs of a node that writes copy: its items, and a Chat Model sub-node (OpenAI, Anthropic, Gemini, Ollama...) as the other way to the LLM credential. */
export const copyNodeInputs: Array<NodeConnectionType | INodeInputConfiguration> = [NodeConnectionTypes.Main, chatModelInput];

export const copyProperties: INodeProperties[] = [
	{
		displayName: 'Copy Source',
		name: 'copySource',
		type: 'options',
		options: [
			{ name: 'Auto', value: 'auto', description: 'AI copy when a Chat Model is connected or an LLM credential is selected, otherwise the campaign template' },
			{ name: 'AI (LLM)', value: 'llm', description: 'Write copy with the connected Chat Model, else the LLM credential' },
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
		options: [{ name: "Campaign's Language", value: 'campaign', description: "Each request's own language: the contact's (Build Email Payload's Language Field), else the campaign's" }, ...languageOptions],
		default: 'campaign',
		description: 'A language other than the campaign\'s writes every request in it, whatever the contacts\' languages',
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
			{ displayName: 'Model', name: 'model', type: 'string', default: '', description: "Overrides the LLM credential's default model (a connected Chat Model uses the model set on it)" },
			{ displayName: 'Personalization Concurrency', name: 'personalizeConcurrency', type: 'number', typeOptions: { minValue: 1, maxValue: 32 }, default: 4 },
			{ displayName: 'Personalization Requests per Minute', name: 'personalizeRpm', type: 'number', typeOptions: { minValue: 1 }, default: 60 },
			{
				displayName: 'Personalize per Recipient (Fields)',
				name: 'personalizeFields',
				type: 'string',
				default: '',
				placeholder: 'first_name, company, role',
				description:
					'Opt-in: one LLM call per recipient, seeing these contact fields (as data, never as instructions). Leave empty for per-variant copy with merge tags (one call per variant).',
			},
		],
	},
];

export const deliveryProperties: INodeProperties[] = [
	{
		displayName: 'Dry Run',
		name: 'dryRun',
		type: 'boolean',
		default: false,
		description: 'Whether to record what would be sent without calling SendGrid',
	},
	{
		displayName: 'Output',
		name: 'outputMode',
		type: 'options',
		options: [
			{ name: 'One Item per Batch', value: 'batch', description: 'Results of each SendGrid request grouped: fast for large campaigns' },
			{ name: 'One Item per Recipient', value: 'recipient' },
		],
		default: 'batch',
	},
	{
		displayName: 'Limits',
		name: 'limits',
		type: 'collection',
		placeholder: 'Add limit',
		default: {},
		displayOptions: { show: { dryRun: [false] } },
		options: [
			{ displayName: 'Daily Cap', name: 'dailyCap', type: 'number', default: 0, description: 'Emails per UTC day for this account, or for this account and IP pool when Options → IP Pool Name is set (0 = no cap); the rest are reported as deferred and go out on the next run' },
			{ displayName: 'Max Emails per Second', name: 'emailsPerSecond', type: 'number', default: 0, description: '0 = no limit' },
			{
				displayName: 'Max Requests per Second',
				name: 'requestsPerSecond',
				type: 'number',
				default: 20,
				description: 'Shared by every execution using this SendGrid account in this n8n process; add a Campaign Redis credential to share it across queue-mode workers',
			},
			{ displayName: 'Max Retries', name: 'maxRetries', type: 'number', typeOptions: { minValue: 0, maxValue: 10 }, default: 5, description: 'Retries for 5xx answers, timeouts and connection errors (429s wait for the reset separately)' },
			{ displayName: 'Parallel Requests', name: 'concurrency', type: 'number', typeOptions: { minValue: 1, maxValue: 32 }, default: 4 },
			{ displayName: 'Request Timeout (Ms)', name: 'timeoutMs', type: 'number', default: 30000 },
			{
				displayName: 'Warm-Up Daily Growth',
				name: 'warmupGrowth',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 10, numberPrecision: 2 },
				default: 1.5,
				description: "Each sending day's warm-up allowance is the previous one times this (1.5 = +50 %). Growth holds by itself while hard bounces (≥ 2.5 %) or spam complaints (≥ 0.05 %) since the last allowance are elevated.",
			},
			{
				displayName: 'Warm-Up Start (Emails per Day)',
				name: 'warmupStart',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description:
					'Turns on a warm-up schedule for this SendGrid account, or for this account and IP pool when Options → IP Pool Name is set (0 = off): the first day allows this many emails, then grows each sending day. Shared by every campaign, run and worker using the account (same campaign store); recipients over the day\'s allowance are deferred to the next day\'s run.',
			},
			{
				displayName: 'Warm-Up Target (Emails per Day)',
				name: 'warmupTarget',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description: 'Where warm-up growth stops (0 = keep growing; the Daily Cap, if set, still applies)',
			},
		],
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: { show: { dryRun: [false] } },
		options: [
			{
				displayName: 'From (Verified Sender)',
				name: 'fromSender',
				type: 'resourceLocator',
				default: { mode: 'list', value: '' },
				description:
					"Overrides the campaign's From for this send: one of the SendGrid account's verified Sender Identities (SendGrid refuses any other). Given as an address alone, the campaign's sender name is kept.",
				modes: [
					{ displayName: 'From List', name: 'list', type: 'list', placeholder: 'Select a verified sender…', typeOptions: { searchListMethod: 'searchVerifiedSenders', searchable: true } },
					{ displayName: 'By Address', name: 'address', type: 'string', placeholder: 'Orders <orders@example.com>', hint: 'An address, or "Name <address>"' },
				],
			},
			{
				displayName: 'IP Pool Name',
				name: 'ipPoolName',
				type: 'resourceLocator',
				default: { mode: 'list', value: '' },
				description:
					"Sends from this SendGrid IP pool (ip_pool_name). The daily cap and the warm-up schedule are then kept for the account and this pool, apart from the account's other sends.",
				modes: [
					{ displayName: 'From List', name: 'list', type: 'list', placeholder: 'Select an IP pool…', typeOptions: { searchListMethod: 'searchIpPools', searchable: true } },
					{ displayName: 'By Name', name: 'name', type: 'string', placeholder: 'marketing' },
				],
			},
			{
				displayName: 'On No Answer From SendGrid',
				name: 'onAmbiguousFailure',
				type: 'options',
				options: [
					{ name: 'Report as Unconfirmed', value: 'unconfirmed', description: "Never risk a duplicate: SendGrid's processed events (SendGrid Trigger) confirm them, Resend Unconfirmed After sends the rest" },
					{ name: 'Retry', value: 'retry', description: 'Retry at once after timeouts and connection resets; a duplicate is possible when SendGrid had accepted the request' },
				],
				default: 'unconfirmed',
			},
			{
				displayName: 'Resend Unconfirmed After (Minutes)',
				name: 'resendUnconfirmedAfterMinutes',
				type: 'number',
				default: 0,
				description:
					"Recipients claimed by a run that crashed before SendGrid answered, and not confirmed by a processed event (SendGrid Trigger) within this time, are sent again. 0 = only report them as unconfirmed.",
			},
			{
				displayName: 'Unsubscribe Group Name or ID',
				name: 'unsubscribeGroupId',
				type: 'options',
				typeOptions: { loadOptionsMethod: 'getUnsubscribeGroups' },
				default: '',
				description: 'Overrides the campaign\'s unsubscribe group. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
			},
		],
	},
];

export const contactProperties: INodeProperties[] = [
	{
		displayName: 'Contacts Source',
		name: 'contactSource',
		type: 'options',
		options: [
			{ name: 'Input Items', value: 'items', description: 'Each input item is a contact (or holds a list of contacts)' },
			{ name: 'CSV Text', value: 'csvText', description: 'Paste or map CSV text' },
			{ name: 'CSV File (Binary)', value: 'csvBinary', description: 'A CSV file from a previous node, e.g. Read Binary File, Form Trigger, HTTP Request' },
			{ name: 'Postgres Query', value: 'postgres', description: 'Rows of a SQL query on the Campaign Database (needs its credential)' },
		],
		default: 'items',
	},
	{
		displayName: 'CSV Text',
		name: 'csvText',
		type: 'string',
		typeOptions: { rows: 6 },
		default: '',
		placeholder: 'email,first_name\nada@example.com,Ada',
		displayOptions: { show: { contactSource: ['csvText'] } },
	},
	{
		displayName: 'Input Binary Field',
		name: 'binaryPropertyName',
		type: 'string',
		default: 'data',
		displayOptions: { show: { contactSource: ['csvBinary'] } },
		hint: 'The name of the binary field that holds the CSV file; leave empty to use the first file of the input item',
	},
	{
		displayName: 'Contacts Query',
		name: 'contactsQuery',
		type: 'string',
		typeOptions: { rows: 4 },
		default: 'SELECT email, first_name, company FROM contacts WHERE segment = $1',
		displayOptions: { show: { contactSource: ['postgres'] } },
		description:
			"One SELECT returning an email column; other columns become merge fields. It runs read-only with a timeout and cannot read the campaign store's own tables. Use $1, $2 with Query Parameters for values. The Campaign Agent reads the rows through a cursor, 5,000 at a time (the timeout applies to each): give the query an ORDER BY so a resumed run reads them in the same order.",
	},
	{
		displayName: 'Query Parameters',
		name: 'contactsQueryParameters',
		type: 'string',
		default: 'spring',
		displayOptions: { show: { contactSource: ['postgres'] } },
		placeholder: 'e.g. spring, 2026-01-01',
		hint: 'Comma-separated values for $1, $2, … in the query, or an expression returning an array, e.g. {{ [$json.segment] }}. Values are bound, never pasted into the SQL.',
	},
	{
		displayName: 'Query Timeout (Seconds)',
		name: 'contactsQueryTimeout',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 60,
		displayOptions: { show: { contactSource: ['postgres'] } },
	},
	{
		displayName: 'Email Field',
		name: 'emailField',
		type: 'string',
		default: 'email',
		displayOptions: { show: { contactSource: ['items', 'postgres'] } },
		description: 'Field of each item that holds the address',
	},
	{
		displayName: 'Contacts List Field',
		name: 'contactsField',
		type: 'string',
		default: '',
		displayOptions: { show: { contactSource: ['items'] } },
		description: 'Optional: a field holding an array of contacts inside each item; leave empty when each item is one contact',
	},
	{
		displayName: 'CSV Options',
		name: 'csvOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: { show: { contactSource: ['csvText', 'csvBinary'] } },
		options: [
			{
				displayName: 'Column Mapping',
				name: 'columnMap',
				type: 'string',
				default: '',
				placeholder: 'Vorname=first_name, Firma=company',
				description: 'Rename CSV columns to merge fields: comma-separated "CSV Header=merge_field" pairs',
			},
			{ displayName: 'Delimiter', name: 'delimiter', type: 'string', default: ',', description: 'Use \\t for tab-separated files' },
			{
				displayName: 'Email Column',
				name: 'emailColumn',
				type: 'string',
				default: '',
				description: 'Header of the address column; by default the first of email, e-mail, email_address, mail',
			},
			{
				displayName: 'Encoding',
				name: 'encoding',
				type: 'options',
				options: [
					{ name: 'UTF-8', value: 'utf-8' },
					{ name: 'UTF-16 LE', value: 'utf-16le' },
					{ name: 'Windows-1252', value: 'windows-1252' },
					{ name: 'ISO-8859-1', value: 'iso-8859-1' },
				],
				default: 'utf-8',
			},
			{
				displayName: 'Max Columns',
				name: 'maxColumns',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 200,
				description: 'A file with more columns stops with an error; a contact keeps at most 500 merge fields',
			},
			{
				displayName: 'Max Field Length',
				name: 'maxFieldLength',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 10000,
				description: 'Characters in one cell; a row with a longer cell goes to the invalid output with the reason',
			},
			{
				displayName: 'Max File Size (MB)',
				name: 'maxFileSizeMb',
				type: 'number',
				typeOptions: { minValue: 1, numberPrecision: 1 },
				default: 50,
				description:
					'Larger files are refused before they are read; the file is read as a stream, so memory stays near this size. The Campaign Agent reads it a chunk at a time in flat memory: without this option it takes files up to 2,048 MB.',
			},
			{
				displayName: 'Max Rows',
				name: 'maxRows',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 250000,
				description:
					'Contacts in one file (the header not counted); a longer file stops with an error — split it or raise this. The Campaign Agent reads contacts a chunk at a time in flat memory: without this option it takes up to 10,000,000 rows.',
			},
		],
	},
	{
		displayName: 'Output',
		name: 'outputMode',
		type: 'options',
		options: [
			{ name: 'Auto', value: 'auto', description: `One item per contact up to ${PER_CONTACT_LIMIT} contacts, batches above` },
			{ name: 'One Item per Contact', value: 'perContact' },
			{ name: 'Batches', value: 'batches', description: 'One item per batch of contacts: fast for large lists' },
		],
		default: 'auto',
		description: 'N8n spends time on every item; batches keep 100,000-contact lists fast',
	},
	{
		displayName: 'Contacts per Batch',
		name: 'batchSize',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100000 },
		default: 1000,
		displayOptions: { show: { outputMode: ['batches', 'auto'] } },
	},
	{
		displayName: 'Run ID',
		name: 'runId',
		type: 'string',
		default: '',
		description: 'Optional. Leave empty to start a new run; set it to continue or resume a run.',
	},
];

/** The contacts source alone, for nodes that load contacts as one part of a larger job (no output shape, no run ID). */
export const contactSourceProperties = contactProperties.filter((p) => !['outputMode', 'batchSize', 'runId'].includes(p.name));

const renamed = (props: INodeProperties[], from: string, to: string) => props.map((p) => (p.name === from ? { ...p, name: to } : p));

/** Copy settings beside a campaign definition (which has its own tone and language): options renamed copyOptions. */
export const combinedCopyProperties = renamed(copyProperties, 'options', 'copyOptions').filter(
	(p) => !['tone', 'customTone', 'language', 'customLanguage'].includes(p.name),
);

/** Delivery settings beside the copy settings: options renamed deliveryOptions, one summary output. */
export const combinedDeliveryProperties = renamed(deliveryProperties, 'options', 'deliveryOptions').filter((p) => p.name !== 'outputMode');
