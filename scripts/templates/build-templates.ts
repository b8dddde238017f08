// Writes workflows/*.json from the definitions below, so templates stay consistent (node type
// names, credentials by type, sticky notes) and reviewable as code. Before writing anything it checks
// every parameter set on one of this package's nodes against that node's description.properties
// (nodeCheck.ts) and throws on a parameter or choice the node does not have.
// Run: npm run templates (tsx scripts/templates/build-templates.ts)
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKG, templateProblems } from './nodeCheck';

type Parameters = Record<string, unknown>;
export interface TemplateNode {
	id?: string;
	name: string;
	type: string;
	typeVersion: number;
	position: [number, number];
	parameters: Parameters;
	webhookId?: string;
}
export interface Template {
	id: string;
	name: string;
	nodes: TemplateNode[];
	connections: Record<string, Partial<Record<'main' | 'ai_languageModel', Array<Array<{ node: string; type: 'main' | 'ai_languageModel'; index: number }>>>>>;
	settings: { executionOrder: 'v1' };
	pinData: Record<string, never>;
	meta: { templateCredsSetupCompleted: boolean };
	tags: string[];
}

let counter = 0;
const id = (name: string) => `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${(++counter).toString(16).padStart(4, '0')}`;

interface NodeExtra {
	typeVersion?: number;
	/** Fields after `parameters` (webhookId). */
	more?: { webhookId?: string };
	/** Leave the node id out (n8n then makes a random one). */
	noId?: boolean;
}
function node(name: string, type: string, position: [number, number], parameters: Parameters = {}, extra: NodeExtra = {}): TemplateNode {
	const nodeId = id(name); // numbered even when left out, so the other nodes keep their ids
	const n: TemplateNode = { name, type, typeVersion: extra.typeVersion ?? 1, position, parameters, ...extra.more };
	return extra.noId ? n : { id: nodeId, ...n };
}
const ours = (t: string) => `${PKG}.${t}`;
function sticky(name: string, content: string, position: [number, number], width = 420, height = 260, color = 7): TemplateNode {
	return node(name, 'n8n-nodes-base.stickyNote', position, { content, width, height, color });
}
/** [from, to, output of `from` (default 0)] */
function connect(pairs: Array<[string, string, number?]>): Template['connections'] {
	const c: Template['connections'] = {};
	for (const [from, to, output = 0] of pairs) {
		const main = (c[from] ??= { main: [] }).main!;
		while (main.length <= output) main.push([]);
		main[output].push({ node: to, type: 'main', index: 0 });
	}
	return c;
}
/** Adds a sub-node's connection: `model` supplies the Chat Model input (ai_languageModel) of `to`. */
function connectChatModel(connections: Template['connections'], model: string, to: string): Template['connections'] {
	return { ...connections, [model]: { ai_languageModel: [[{ node: to, type: 'ai_languageModel', index: 0 }]] } };
}

/**
 * n8n's own OpenAI Chat Model sub-node. Chat Completions (Use Responses API off), which every
 * OpenAI-compatible server speaks; its credential's Base URL points it at one.
 */
function openAiChatModel(position: [number, number]): TemplateNode {
	return node('OpenAI Chat Model', '@n8n/n8n-nodes-langchain.lmChatOpenAi', position, { model: { __rl: true, mode: 'list', value: 'gpt-4o-mini' }, responsesApiEnabled: false, options: {} }, { typeVersion: 1.3 });
}

/** The chat model templates' note: which node the OpenAI Chat Model writes for, and how to use another model. */
const chatModelNote = (root: string) =>
	`**Chat Model**: the **OpenAI Chat Model** under ${root} writes the copy. Select an *OpenAI* credential on it; for an OpenAI-compatible server (vLLM, LM Studio, LiteLLM, OpenRouter...) set the credential's Base URL. Or delete it and click **+** under *Chat Model* to connect any chat model n8n has: Anthropic, Google Gemini, Ollama, Mistral, Groq, Azure OpenAI, AWS Bedrock... Copy is written once per variant (never per recipient), checked and cached per model; a connected model comes before an *OpenAI-Compatible LLM API* credential.`;
/** n8n workflow ids are 16 characters; a stable id per template lets re-imports update in place. */
function workflowId(name: string): string {
	return createHash('sha256').update(name).digest('base64url').replace(/[-_]/g, 'x').slice(0, 16);
}

function workflow(name: string, nodes: TemplateNode[], connections: Template['connections']): Template {
	return { id: workflowId(name), name, nodes, connections, settings: { executionOrder: 'v1' }, pinData: {}, meta: { templateCredsSetupCompleted: false }, tags: [] };
}

const SAMPLE_CSV = [
	'email,first_name,company',
	'ada@example.com,Ada,Analytical Engines',
	'grace@example.com,Grace,Navy Labs',
	'linus@example.com,Linus,Kernel Co',
	'not-an-address,Broken,Row',
].join('\n');

/** The sample contacts every manual template starts from (a Set node users replace with their source). */
function contactsCsv(position: [number, number]): TemplateNode {
	return node(
		'Contacts CSV',
		'n8n-nodes-base.set',
		position,
		{ assignments: { assignments: [{ id: 'csv', name: 'csv', value: SAMPLE_CSV, type: 'string' }] }, options: {} },
		{ typeVersion: 3.4 },
	);
}

const campaignParams = {
	campaignSource: 'fields',
	campaignId: 'spring-launch',
	campaignName: 'Spring launch',
	fromEmail: 'news@example.com',
	fromName: 'Example News',
	tone: 'friendly',
	language: 'en',
	brief: {
		product: 'Acme Rocket Skates, the fastest skates in the desert',
		audience: 'weekend skaters who bought from us before',
		offer: '20% off all skates until Sunday',
		callToAction: 'Shop the spring sale',
		links: 'https://acme.example/sale',
	},
	sequence: 'single',
	subject: 'Hi {{first_name|there}}, our spring sale is on',
	body: '<p>Hello {{first_name|there}},</p><p>Spring is here and every pair of Acme Rocket Skates is 20% off until Sunday.</p><p><a href="https://acme.example/sale">Shop the spring sale</a></p>',
	campaignOptions: { fallbacks: 'first_name=there', categories: 'spring-launch' },
};

function pipeline() {
	const nodes = [
		sticky(
			'Setup',
			'## Campaign pipeline\nThe five stages, one node each.\n\n1. **Contacts CSV**: paste your CSV (header row with an `email` column) or replace this node with your own source (Google Sheets, Postgres, Form upload...).\n2. **Load Campaign Content**: campaign details and brief. Bad rows leave through **Invalid**.\n3. **Generate Email Copy**: connect a Chat Model sub-node (any n8n chat model; see the *stage pipeline with a Chat Model* template) or select an *OpenAI-Compatible LLM API* credential for AI copy; without either it uses the template subject/body.\n4. **Send Email (SendGrid)**: starts in **Dry Run**. To send, turn Dry Run off, select a *SendGrid Campaign API* credential, and give the campaign a way to unsubscribe (Load Campaign Content → Campaign Options → Unsubscribe URL: the *Campaign Unsubscribe Trigger*\'s https Production URL, or an Unsubscribe Group ID).\n5. **Log Campaign Result**: add a *Campaign Database* credential for Postgres; without one the embedded store is used.',
			[-420, -320],
			520,
			380,
		),
		...pipelineStages(),
	];
	return workflow('Email Campaign: stage pipeline', nodes, pipelineConnections());
}

/**
 * The pipeline's nodes from Start to Log Campaign Result. `shift` moves Send Email and Log Campaign
 * Result right: with a Chat Model connected, n8n draws Generate Email Copy wider.
 */
function pipelineStages(shift = 0): TemplateNode[] {
	return [
		node('Start', 'n8n-nodes-base.manualTrigger', [-400, 100]),
		contactsCsv([-180, 100]),
		node('Load Campaign Content', ours('loadCampaignContent'), [40, 100], { ...campaignParams, contactSource: 'csvText', csvText: '={{ $json.csv }}', outputMode: 'auto' }),
		node('Invalid Rows', 'n8n-nodes-base.noOp', [280, 300]),
		node('Build Email Payload', ours('buildEmailPayload'), [280, 60], { campaignSource: 'input', step: 1, batchSize: 1000, options: {} }),
		node('Generate Email Copy', ours('generateEmailCopy'), [500, 60], { copySource: 'auto', tone: 'campaign', language: 'campaign', options: { onLlmFailure: 'template' } }),
		node('Send Email (SendGrid)', ours('sendEmailSendGrid'), [720 + shift, 60], { dryRun: true, outputMode: 'batch', limits: {}, options: {} }),
		node('Log Campaign Result', ours('logCampaignResult'), [940 + shift, 60], { outputMode: 'summary', finishRun: true }),
	];
}

function pipelineConnections(): Template['connections'] {
	return connect([
		['Start', 'Contacts CSV'],
		['Contacts CSV', 'Load Campaign Content'],
		['Load Campaign Content', 'Build Email Payload', 0],
		['Load Campaign Content', 'Invalid Rows', 1],
		['Build Email Payload', 'Generate Email Copy'],
		['Generate Email Copy', 'Send Email (SendGrid)'],
		['Send Email (SendGrid)', 'Log Campaign Result'],
	]);
}

const uuid = (n: number) => `0c0ffee0-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** How the templates' Campaign Agents run: copy from the LLM when one is set up, Dry Run, the first step. */
const agentRun = {
	copySource: 'auto',
	copyOptions: { onLlmFailure: 'template' },
	dryRun: true,
	limits: {},
	deliveryOptions: {},
	batchSize: 1000,
	stepsToSend: 'first',
	runId: '',
	resume: false,
	outputRows: false,
};

function agent() {
	const nodes = [
		sticky(
			'Setup',
			'## Campaign Agent\nThe whole pipeline in one node (a LangGraph graph), resumable.\n\n- **Dry Run** is on: it records what would be sent. Turn it off and select a *SendGrid Campaign API* credential to send.\n- For AI copy connect a Chat Model sub-node (any n8n chat model; see the *Campaign Agent with a Chat Model* template) or select an *OpenAI-Compatible LLM API* credential (else the template subject/body is used).\n- Add a *Campaign Database* credential (Postgres) for checkpoints across restarts and for queue mode.\n- To resume an interrupted run, put its run ID in **Run ID** and turn on **Resume Run**.',
			[-420, -320],
			520,
			300,
		),
		...agentNodes(),
	];
	return workflow('Email Campaign: Campaign Agent', nodes, agentConnections());
}

/** The agent template's nodes: sample contacts into one Campaign Agent. */
function agentNodes(): TemplateNode[] {
	return [
		node('Start', 'n8n-nodes-base.manualTrigger', [-400, 100]),
		contactsCsv([-180, 100]),
		node('Campaign Agent', ours('campaignAgent'), [60, 100], {
			...campaignParams,
			contactSource: 'csvText',
			csvText: '={{ $json.csv }}',
			...agentRun,
		}),
	];
}

const agentConnections = () => connect([['Start', 'Contacts CSV'], ['Contacts CSV', 'Campaign Agent']]);

function pipelineWithChatModel() {
	const nodes = [
		sticky(
			'Setup',
			`## Campaign pipeline with a Chat Model\nThe stage pipeline, its copy written by a Chat Model sub-node.\n\n${chatModelNote('**Generate Email Copy**')}\n\n**Send Email (SendGrid)** starts in **Dry Run**: turn it off, select a *SendGrid Campaign API* credential and give the campaign an Unsubscribe URL to send.`,
			[-420, -300],
			560,
			280,
		),
		...pipelineStages(160),
		// Under Generate Email Copy's Chat Model input.
		openAiChatModel([640, 300]),
	];
	return workflow('Email Campaign: stage pipeline with a Chat Model', nodes, connectChatModel(pipelineConnections(), 'OpenAI Chat Model', 'Generate Email Copy'));
}

function agentWithChatModel() {
	const nodes = [
		sticky(
			'Setup',
			`## Campaign Agent with a Chat Model\nThe whole pipeline in one node, its copy written by a Chat Model sub-node.\n\n${chatModelNote('the **Campaign Agent**')}\n\n**Dry Run** is on: turn it off and select a *SendGrid Campaign API* credential to send.`,
			[-420, -300],
			560,
			270,
		),
		...agentNodes(),
		openAiChatModel([200, 320]),
	];
	return workflow('Email Campaign: Campaign Agent with a Chat Model', nodes, connectChatModel(agentConnections(), 'OpenAI Chat Model', 'Campaign Agent'));
}

function form() {
	const nodes = [
		sticky(
			'Setup',
			'## Campaign form\nA page where a marketer uploads a CSV and picks tone, language, variants and sequence. Publish the workflow and open the form URL.\n\nThe campaign starts in **Dry Run**: open the Campaign Agent node, turn Dry Run off and select a SendGrid credential to send for real.',
			[-420, -300],
			480,
			240,
		),
		node(
			'Campaign Form',
			'n8n-nodes-base.formTrigger',
			[-380, 100],
			{
				formTitle: 'Start an email campaign',
				formDescription: 'Upload contacts (CSV with an email column), describe the offer, and pick tone, language and sequence.',
				formFields: {
					values: [
						{ fieldLabel: 'Contacts CSV', fieldType: 'file', requiredField: true, multipleFiles: false, acceptFileTypes: '.csv' },
						{ fieldLabel: 'Campaign name', requiredField: true },
						{ fieldLabel: 'From email', fieldType: 'email', requiredField: true },
						{ fieldLabel: 'Product', requiredField: true },
						{ fieldLabel: 'Offer' },
						{ fieldLabel: 'Link', placeholder: 'https://example.com/offer' },
						{ fieldLabel: 'Tone', fieldType: 'dropdown', requiredField: true, fieldOptions: { values: [{ option: 'friendly' }, { option: 'professional' }, { option: 'urgent' }, { option: 'playful' }] } },
						{ fieldLabel: 'Language', fieldType: 'dropdown', requiredField: true, fieldOptions: { values: [{ option: 'en' }, { option: 'es' }, { option: 'fr' }, { option: 'de' }, { option: 'it' }, { option: 'pt' }, { option: 'nl' }] } },
						{ fieldLabel: 'Variants', fieldType: 'number', requiredField: true, placeholder: '1' },
						{ fieldLabel: 'Sequence', fieldType: 'dropdown', requiredField: true, fieldOptions: { values: [{ option: 'Single email' }, { option: 'Day 1 / Day 3 / Day 7' }] } },
					],
				},
				responseMode: 'lastNode',
				options: { path: 'start-campaign' },
			},
			{ typeVersion: 2.2, more: { webhookId: uuid(1) } },
		),
		node('Campaign Agent', ours('campaignAgent'), [-120, 100], {
			campaignSource: 'fields',
			campaignId: "={{ $json['Campaign name'].toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'campaign' }}",
			campaignName: "={{ $json['Campaign name'] }}",
			fromEmail: "={{ $json['From email'] }}",
			fromName: "={{ $json['Campaign name'] }}",
			tone: "={{ $json['Tone'] }}",
			language: "={{ $json['Language'] }}",
			brief: { product: "={{ $json['Product'] }}", offer: "={{ $json['Offer'] }}", links: "={{ $json['Link'] }}", callToAction: 'Find out more' },
			sequence: "={{ $json['Sequence'] === 'Single email' ? 'single' : 'day137' }}",
			subject: 'Something new for you, {{first_name|there}}',
			// A merge tag's braces cannot appear inside an n8n expression, so the template body greets without one.
			body: "={{ '<p>Hello,</p><p>' + $json['Product'] + (($json['Offer'] || '') ? ' — ' + $json['Offer'] : '') + '</p>' + (($json['Link'] || '') ? '<p><a href=\"' + $json['Link'] + '\">Find out more</a></p>' : '') }}",
			campaignOptions: { variants: "={{ Math.min(5, Math.max(1, Number($json['Variants']) || 1)) }}", fallbacks: 'first_name=there' },
			contactSource: 'csvBinary',
			binaryPropertyName: '',
			...agentRun,
		}),
	];
	return workflow('Email Campaign: campaign form', nodes, connect([['Campaign Form', 'Campaign Agent']]));
}

function api() {
	const nodes = [
		sticky(
			'Setup',
			'## Campaign API\n`POST /webhook/campaigns` with `Authorization: Bearer <JWT>` and a JSON body `{ "campaign": {...}, "contacts": [{"email": ...}], "dry_run": true }`.\n\n- Create a **JWT Auth** credential (HS256 passphrase or a public key) and select it on the Webhook node.\n- Missing token → 401, bad or expired token → 403, over the per-caller limit → 429, invalid body → 400 naming the field.\n- Answers 202 with the run ID; the Campaign Agent then sends (Dry Run unless the body says `"dry_run": false`).\n\n**API keys**: `POST /webhook/campaigns-key` with `Authorization: Bearer eca_live_…`. Make keys with a **Campaign API Guard** set to *Create API Key* (shown once; scopes, allowed campaigns and a rate limit each), revoke them with *Revoke API Key*. Unknown or revoked key → 401, missing `start` scope or another campaign → 403, over the key\'s own limit → 429.',
			[-460, -400],
			560,
			360,
		),
		node(
			'Campaign API',
			'n8n-nodes-base.webhook',
			[-420, 100],
			{ httpMethod: 'POST', path: 'campaigns', authentication: 'jwtAuth', responseMode: 'responseNode', options: {} },
			{ typeVersion: 2.1, more: { webhookId: uuid(2) } },
		),
		node('Campaign API Guard', ours('campaignApiGuard'), [-180, 100], { apiKeys: 'accept', perMinute: 10 }),
		node(
			'Answer Run ID',
			'n8n-nodes-base.respondToWebhook',
			[60, 0],
			{ respondWith: 'json', responseBody: '={{ JSON.stringify({ run_id: $json.run_id, status: "accepted" }) }}', options: { responseCode: 202 } },
			{ typeVersion: 1.5 },
		),
		node(
			'Answer Rejection',
			'n8n-nodes-base.respondToWebhook',
			[60, 240],
			{ respondWith: 'json', responseBody: '={{ JSON.stringify({ error: $json.error, fields: $json.fields, retry_after: $json.retry_after }) }}', options: { responseCode: '={{ $json.status }}' } },
			{ typeVersion: 1.5 },
		),
		node('Campaign Agent', ours('campaignAgent'), [300, 0], {
			campaignSource: 'input',
			campaignField: 'campaign',
			contactSource: 'items',
			contactsField: 'contacts',
			emailField: 'email',
			copySource: 'auto',
			copyOptions: { onLlmFailure: 'template' },
			dryRun: '={{ $json.dry_run !== false }}',
			limits: {},
			deliveryOptions: {},
			batchSize: 1000,
			stepsToSend: 'first',
			runId: '={{ $json.run_id }}',
			resume: false,
			outputRows: false,
		}),
		// Built by hand, not with node(): node ids are numbered across all templates, and a new node here
		// would renumber every template after this one.
		{
			id: 'campaign-api-key-0c0f',
			name: 'Campaign API (Key)',
			type: 'n8n-nodes-base.webhook',
			typeVersion: 2.1,
			position: [-420, 300] as [number, number],
			// No n8n authentication: the Campaign API Guard checks the campaign API key (401 without one).
			parameters: { httpMethod: 'POST', path: 'campaigns-key', responseMode: 'responseNode', options: {} },
			webhookId: uuid(181),
		},
	];
	return workflow(
		'Email Campaign: campaign API (JWT)',
		nodes,
		connect([
			['Campaign API', 'Campaign API Guard'],
			['Campaign API (Key)', 'Campaign API Guard'],
			['Campaign API Guard', 'Answer Run ID', 0],
			['Campaign API Guard', 'Answer Rejection', 1],
			['Answer Run ID', 'Campaign Agent'],
		]),
	);
}

const sequenceCampaign = {
	...campaignParams,
	campaignId: 'spring-sequence',
	sequence: 'day137',
};

function scheduler() {
	const nodes = [
		sticky(
			'Setup',
			'## Sequence scheduler\n1. Run **Enroll** once (or whenever contacts join): it enrolls them in the Day 1 / Day 3 / Day 7 sequence.\n2. Publish the workflow: every 15 minutes **Send Due Steps** sends each due step once and moves contacts on. Several runs or queue-mode workers never send a step twice.\n\nUnsubscribes, hard bounces, spam reports and replies (SendGrid Trigger) stop a contact. Dry Run is on until you select a SendGrid credential and turn it off.',
			[-460, -360],
			560,
			300,
		),
		node('Enroll', 'n8n-nodes-base.manualTrigger', [-420, 300]),
		contactsCsv([-200, 300]),
		node('Enroll Contacts', ours('campaignSequence'), [40, 300], { operation: 'enroll', ...sequenceCampaign, contactSource: 'csvText', csvText: '={{ $json.csv }}', timezoneField: 'timezone', asOf: '' }),
		node('Every 15 Minutes', 'n8n-nodes-base.scheduleTrigger', [-420, 60], { rule: { interval: [{ field: 'minutes', minutesInterval: 15 }] } }, { typeVersion: 1.2 }),
		node('Send Due Steps', ours('campaignSequence'), [40, 60], {
			operation: 'sendDue',
			campaignRef: '',
			asOf: '',
			maxContacts: 100000,
			batchSize: 1000,
			copySource: 'auto',
			copyOptions: { onLlmFailure: 'template' },
			dryRun: true,
			limits: {},
			deliveryOptions: {},
		}),
	];
	return workflow(
		'Email Campaign: sequence scheduler (Day 1 / 3 / 7)',
		nodes,
		connect([
			['Enroll', 'Contacts CSV'],
			['Contacts CSV', 'Enroll Contacts'],
			['Every 15 Minutes', 'Send Due Steps'],
		]),
	);
}

function abTest() {
	const nodes = [
		sticky(
			'Setup',
			'## A/B test that picks a real winner\nTwo subject lines are tested on 20 % of the list; after 4 hours the variant with the better **unique click rate** goes to the other 80 % — but only when a two-proportion test reaches 95 % confidence. Otherwise it keeps waiting up to 48 h, then sends the leader and says so.\n\nThe decision, rates, sample sizes and p-value are stored (dashboard) and output. Clicks come from the SendGrid Trigger (event tracking template).',
			[-460, -380],
			580,
			300,
		),
		node('Start Test', 'n8n-nodes-base.manualTrigger', [-420, 300]),
		contactsCsv([-200, 300]),
		node('Enroll A/B Test', ours('campaignSequence'), [40, 300], {
			operation: 'enroll',
			campaignSource: 'json',
			campaignJson: JSON.stringify(
				{
					id: 'spring-ab-test',
					from: { email: 'news@example.com', name: 'Example News' },
					brief: campaignParams.brief && { product: campaignParams.brief.product, offer: campaignParams.brief.offer, links: ['https://acme.example/sale'] },
					variants: 2,
					abTest: { mode: 'sample', samplePercent: 20, waitHours: 4, metric: 'unique_click_rate', confidence: 0.95, fallback: 'keep_waiting', maxWaitHours: 48 },
					steps: [
						{
							step: 1,
							delayHours: 0,
							subject: 'Spring sale: 20% off Acme Rocket Skates',
							html: '<p>Hi {{first_name|there}},</p><p>Every pair of Acme Rocket Skates is 20% off until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p>',
							variantCopy: { B: { subject: '{{first_name|Friend}}, your skates are waiting (20% off)' } },
						},
					],
				},
				null,
				2,
			),
			contactSource: 'csvText',
			csvText: '={{ $json.csv }}',
			timezoneField: 'timezone',
			asOf: '',
		}),
		node('Every 15 Minutes', 'n8n-nodes-base.scheduleTrigger', [-420, 60], { rule: { interval: [{ field: 'minutes', minutesInterval: 15 }] } }, { typeVersion: 1.2 }),
		node('Send Test, Then Winner', ours('campaignSequence'), [40, 60], {
			operation: 'sendDue',
			campaignRef: 'spring-ab-test',
			asOf: '',
			maxContacts: 100000,
			batchSize: 1000,
			copySource: 'template',
			dryRun: true,
			limits: {},
			deliveryOptions: {},
		}),
		node('Check Winner Now', 'n8n-nodes-base.manualTrigger', [-420, 540]),
		node('Pick A/B Winner', ours('campaignSequence'), [40, 540], { operation: 'abDecide', campaignRef: 'spring-ab-test', abStep: 1, asOf: '' }),
	];
	return workflow(
		'Email Campaign: A/B test',
		nodes,
		connect([
			['Start Test', 'Contacts CSV'],
			['Contacts CSV', 'Enroll A/B Test'],
			['Every 15 Minutes', 'Send Test, Then Winner'],
			['Check Winner Now', 'Pick A/B Winner'],
		]),
	);
}

function eventTracking() {
	const nodes = [
		sticky(
			'Setup',
			"## SendGrid event tracking\nPublish this workflow: the **SendGrid Trigger** registers its URL with SendGrid's Event Webhook (signed), verifies every POST, stores each event once, updates delivery rows and suppressions, and confirms unconfirmed sends. Replies: point SendGrid Inbound Parse at the trigger's second URL (…/inbound) followed by ?secret= and the trigger's **Inbound Parse Secret** (generated for each new trigger). Only replies that answer a message this store sent, pass SPF or DKIM and are not auto-replies stop the contact's sequence in that campaign.\n\n**Reputation guard**: when a campaign's hard bounces pass 5 % or its spam complaints 0.1 % (after 200 sends, over 24 h; change them under Reputation Limits), the trigger pauses the campaign and its SendGrid account: every run and worker stops before its next request. The post then goes to **Alert: Campaign Paused** — connect Slack or email there. Resume with Campaign Sequence → Resume once the list is cleaned.\n\n**One-click unsubscribe**: set each campaign's **Unsubscribe URL** to the **Campaign Unsubscribe Trigger**'s Production URL. Live messages then carry a signed List-Unsubscribe link (Gmail's and Yahoo's unsubscribe button POSTs it) that suppresses the contact and stops their sequences; opened in a browser it shows a confirm page with an undo.",
			[-460, -340],
			560,
			280,
		),
		node(
			'SendGrid Trigger',
			ours('sendGridTrigger'),
			[-420, 100],
			{
				registration: 'auto',
				events: ['processed', 'delivered', 'deferred', 'dropped', 'bounce', 'open', 'click', 'spamreport', 'unsubscribe', 'group_unsubscribe', 'group_resubscribe'],
				output: 'request',
				reputationGuard: true,
				reputationLimits: {},
				options: { binaryData: true },
			},
			// No fixed node id: n8n gives the imported trigger a random one, and the Inbound Parse Secret's default is made from it.
			{ more: { webhookId: uuid(3) }, noId: true },
		),
		node(
			'Campaign Paused?',
			'n8n-nodes-base.if',
			[-160, 100],
			{
				conditions: {
					options: { caseSensitive: true, leftValue: '', typeValidation: 'loose' },
					conditions: [
						{
							id: 'paused',
							leftValue: '={{ ($json.paused || []).length }}',
							rightValue: 0,
							operator: { type: 'number', operation: 'gt' },
						},
					],
					combinator: 'and',
				},
				options: {},
			},
			{ typeVersion: 2.2 },
		),
		node('Alert: Campaign Paused', 'n8n-nodes-base.noOp', [100, 0]),
		node('Events Stored', 'n8n-nodes-base.noOp', [100, 220]),
		node('Campaign Unsubscribe Trigger', ours('campaignUnsubscribeTrigger'), [-420, 420], {}, { more: { webhookId: uuid(5) } }),
		node('Unsubscribes Recorded', 'n8n-nodes-base.noOp', [-160, 420]),
	];
	return workflow(
		'Email Campaign: SendGrid event tracking',
		nodes,
		connect([
			['SendGrid Trigger', 'Campaign Paused?'],
			['Campaign Paused?', 'Alert: Campaign Paused', 0],
			['Campaign Paused?', 'Events Stored', 1],
			['Campaign Unsubscribe Trigger', 'Unsubscribes Recorded'],
		]),
	);
}

function dashboard() {
	const header = (name: string, value: string) => ({ name, value });
	const respond = (name: string, position: [number, number], headers: Array<{ name: string; value: string }>) =>
		node(
			name,
			'n8n-nodes-base.respondToWebhook',
			position,
			{ respondWith: 'text', responseBody: '={{ $json.body }}', options: { responseCode: '={{ $json.status }}', responseHeaders: { entries: headers } } },
			{ typeVersion: 1.5 },
		);
	const nodes = [
		sticky(
			'Setup',
			'## Campaign dashboard\nPublish, then open `/webhook/campaign-dashboard` in a browser.\n\n**Sign-in**: create a *Campaign Dashboard Users* credential (one `name:password` per line) and select it on **Campaign Dashboard**; the browser asks each person for theirs. **Allowed Actors** on that node names who may pause, resume or cancel a campaign or a scheduled run, pick an A/B winner or lift a suppression (every action asks for a confirmation and is logged with who and when); everyone else reads.\n\nPages: campaigns (rates, last run, next step), a page per campaign (opens and clicks over time, clicks per link, bounce reasons, A/B decisions, copy, runs), deliveries (search, pages, CSV export). Charts are drawn by uPlot, served with the page: no CDN, works offline, strict CSP.\n\n**Prometheus**: `/webhook/campaign-dashboard?view=metrics` answers campaign metrics (Prometheus text format) to the same users — give the scraper a user of its own (README: scrape config).',
			[-460, -400],
			620,
			360,
		),
		node(
			'Dashboard',
			'n8n-nodes-base.webhook',
			[-420, 100],
			{ multipleMethods: true, httpMethod: ['GET', 'POST'], path: 'campaign-dashboard', responseMode: 'responseNode', options: {} },
			{ typeVersion: 2.1, more: { webhookId: uuid(4) } },
		),
		node('Campaign Dashboard', ours('campaignDashboard'), [-180, 100], { signIn: 'users', title: 'Email campaigns', allowedActors: '', options: {} }),
		node(
			'CSV Export?',
			'n8n-nodes-base.if',
			[40, 100],
			{
				conditions: {
					options: { caseSensitive: true, leftValue: '', typeValidation: 'strict' },
					conditions: [{ id: 'csv', leftValue: '={{ $json.kind }}', rightValue: 'csv', operator: { type: 'string', operation: 'equals' } }],
					combinator: 'and',
				},
				options: {},
			},
			{ typeVersion: 2.2 },
		),
		respond('Send CSV', [280, 0], [
			header('Content-Type', 'text/csv; charset=utf-8'),
			header('Content-Disposition', "={{ $json.headers['content-disposition'] }}"),
			header('X-Next-Cursor', "={{ $json.headers['x-next-cursor'] }}"),
			header('Cache-Control', 'no-store'),
		]),
		respond('Show Page', [280, 200], [
			header('Content-Type', "={{ $json.headers['content-type'] }}"),
			header('WWW-Authenticate', "={{ $json.headers['www-authenticate'] || '' }}"),
			header('Cache-Control', 'no-store'),
			header('X-Content-Type-Options', 'nosniff'),
			header('Referrer-Policy', 'no-referrer'),
		]),
	];
	const wf = workflow(
		'Email Campaign: dashboard',
		nodes,
		connect([
			['Dashboard', 'Campaign Dashboard', 0],
			['Dashboard', 'Campaign Dashboard', 1],
			['Campaign Dashboard', 'CSV Export?'],
			['CSV Export?', 'Send CSV', 0],
			['CSV Export?', 'Show Page', 1],
		]),
	);
	// Pages hold contacts' addresses, and a new API key is on the page once: n8n keeps no data of successful executions of this workflow.
	return { ...wf, settings: { ...wf.settings, saveDataSuccessExecution: 'none', saveManualExecutions: false } };
}

function preview() {
	const nodes = [
		sticky(
			'Setup',
			'## Preview and test send\nBefore a campaign goes out: each step and variant rendered for a few sample contacts (merge values, fallbacks and footer in place) and the **preflight** findings (no unsubscribe mechanism, an empty text part, a merge tag no contact has, html Gmail would clip, a long subject, no preheader, no postal address...).\n\nExecute it and open the **Campaign Preview** output: `html` is a page with every variant side by side. Turn on **Send Test**, list your seed addresses and select a *SendGrid Campaign API* credential to get each variant in your own inbox: marked [Test], never claimed or counted, and nobody is suppressed by what happens to it.',
			[-420, -340],
			560,
			320,
		),
		node('Start', 'n8n-nodes-base.manualTrigger', [-400, 100]),
		contactsCsv([-180, 100]),
		node('Load Campaign Content', ours('loadCampaignContent'), [40, 100], { ...campaignParams, contactSource: 'csvText', csvText: '={{ $json.csv }}', outputMode: 'auto' }),
		node('Build Email Payload', ours('buildEmailPayload'), [280, 60], { campaignSource: 'input', step: 1, batchSize: 1000, options: {} }),
		node('Generate Email Copy', ours('generateEmailCopy'), [500, 60], { copySource: 'auto', tone: 'campaign', language: 'campaign', options: { onLlmFailure: 'template' } }),
		node('Campaign Preview', ours('campaignPreview'), [720, 60], { samples: 3, output: 'page', live: true, sendTest: false }),
	];
	return workflow(
		'Email Campaign: preview and test send',
		nodes,
		connect([
			['Start', 'Contacts CSV'],
			['Contacts CSV', 'Load Campaign Content'],
			['Load Campaign Content', 'Build Email Payload', 0],
			['Build Email Payload', 'Generate Email Copy'],
			['Generate Email Copy', 'Campaign Preview'],
		]),
	);
}

/**
 * The error workflow: campaign workflows name it in their settings (Error Workflow); n8n runs it with
 * the failed execution, and Campaign Error Report sends one Sentry event for it.
 */
function errorReport() {
	const nodes = [
		sticky(
			'Setup',
			'## Failed campaign runs to Sentry\n1. Select a **Campaign Sentry API** credential on *Campaign Error Report*: your project\'s DSN (Sentry → Project Settings → Client Keys), environment, release.\n2. **Publish** this workflow (n8n only runs a published error workflow).\n3. In each campaign workflow: **Settings → Error Workflow → Email Campaign: error report**, and save.\n\nEvery failed execution of those workflows becomes one Sentry event tagged with the campaign, run, step, node, workflow and execution, and the error\'s field and hint. Secrets and contacts\' addresses are masked; node parameters and request bodies are never sent. Executions started from the editor do not call an error workflow: schedules, webhooks, forms and published triggers do.',
			[-420, -320],
			620,
			300,
		),
		node('Error Trigger', 'n8n-nodes-base.errorTrigger', [-380, 100]),
		node('Campaign Error Report', ours('campaignErrorReport'), [-140, 100], { delivery: 'send', options: {} }),
	];
	return workflow('Email Campaign: error report', nodes, connect([['Error Trigger', 'Campaign Error Report']]));
}

/** File name in workflows/ → the function that makes that template. */
export const templates: Record<string, () => Template> = {
	'campaign-pipeline.json': pipeline,
	'campaign-agent.json': agent,
	'campaign-pipeline-chat-model.json': pipelineWithChatModel,
	'campaign-agent-chat-model.json': agentWithChatModel,
	'campaign-form.json': form,
	'campaign-api.json': api,
	'sequence-scheduler.json': scheduler,
	'ab-test.json': abTest,
	'sendgrid-event-tracking.json': eventTracking,
	'campaign-dashboard.json': dashboard,
	'campaign-preview.json': preview,
	'campaign-error-report.json': errorReport,
};

/** Every template, by file name (node ids are numbered per template, as in the committed files). */
export function makeTemplates(): Record<string, Template> {
	const made: Record<string, Template> = {};
	for (const [file, make] of Object.entries(templates)) {
		counter = 0;
		made[file] = make();
	}
	return made;
}

/** Throws, naming each template, node and parameter, when a template sets something its node does not have. */
export function checkTemplates(made: Record<string, Template>): void {
	const problems = Object.entries(made).flatMap(([file, wf]) => templateProblems(wf).map((p) => `${file}: ${p}`));
	if (problems.length) throw new Error(`${problems.length} template parameter problem(s), nothing written:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** Checks every template, then (only when all pass) writes them into `out`. */
export function buildTemplates(out: string, made: Record<string, Template> = makeTemplates()): string[] {
	checkTemplates(made);
	mkdirSync(out, { recursive: true });
	for (const [file, wf] of Object.entries(made)) writeFileSync(join(out, file), JSON.stringify(wf, null, '\t') + '\n');
	return Object.keys(made);
}

/** The command: writes into TEMPLATES_OUT when set (the unit test that checks workflows/ is what this script makes), else workflows/. */
export function main(): void {
	const out = process.env.TEMPLATES_OUT ?? join(__dirname, '..', '..', 'workflows');
	for (const file of buildTemplates(out)) console.log(`wrote workflows/${file}`);
}

if (require.main === module) main();
