#!/usr/bin/env node
// Writes workflows/*.json from the definitions below, so templates stay consistent (node type
// names, credentials by type, sticky notes) and reviewable as code. Run: node scripts/templates/build-templates.js
const fs = require('node:fs');
const path = require('node:path');

const PKG = 'n8n-nodes-email-campaign-agent';
const out = path.join(__dirname, '..', '..', 'workflows');

let counter = 0;
const id = (name) => `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${(++counter).toString(16).padStart(4, '0')}`;

function node(name, type, position, parameters = {}, extra = {}) {
	return { id: id(name), name, type, typeVersion: extra.typeVersion ?? 1, position, parameters, ...extra.more };
}
const ours = (t) => `${PKG}.${t}`;
function sticky(name, content, position, width = 420, height = 260, color = 7) {
	return node(name, 'n8n-nodes-base.stickyNote', position, { content, width, height, color });
}
function connect(pairs) {
	const c = {};
	for (const [from, to, output = 0] of pairs) {
		c[from] ??= { main: [] };
		while (c[from].main.length <= output) c[from].main.push([]);
		c[from].main[output].push({ node: to, type: 'main', index: 0 });
	}
	return c;
}
function workflow(name, nodes, connections, extra = {}) {
	return { name, nodes, connections, settings: { executionOrder: 'v1' }, pinData: {}, meta: { templateCredsSetupCompleted: false }, tags: [], ...extra };
}

const SAMPLE_CSV = [
	'email,first_name,company',
	'ada@example.com,Ada,Analytical Engines',
	'grace@example.com,Grace,Navy Labs',
	'linus@example.com,Linus,Kernel Co',
	'not-an-address,Broken,Row',
].join('\n');

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
			'## Campaign pipeline\nThe five stages, one node each.\n\n1. **Contacts CSV**: paste your CSV (header row with an `email` column) or replace this node with your own source (Google Sheets, Postgres, Form upload...).\n2. **Load Campaign Content**: campaign details and brief. Bad rows leave through **Invalid**.\n3. **Generate Email Copy**: select an *OpenAI-Compatible LLM API* credential for AI copy; without one it uses the template subject/body.\n4. **Send Email (SendGrid)**: starts in **Dry Run**. Turn Dry Run off and select a *SendGrid Campaign API* credential to send.\n5. **Log Campaign Result**: add a *Campaign Database* credential for Postgres; without one the embedded store is used.',
			[-420, -320],
			520,
			380,
		),
		node('Start', 'n8n-nodes-base.manualTrigger', [-400, 100]),
		node(
			'Contacts CSV',
			'n8n-nodes-base.set',
			[-180, 100],
			{ assignments: { assignments: [{ id: 'csv', name: 'csv', value: SAMPLE_CSV, type: 'string' }] }, options: {} },
			{ typeVersion: 3.4 },
		),
		node('Load Campaign Content', ours('loadCampaignContent'), [40, 100], { ...campaignParams, contactSource: 'csvText', csvText: '={{ $json.csv }}', outputMode: 'auto' }),
		node('Invalid Rows', 'n8n-nodes-base.noOp', [280, 300]),
		node('Build Email Payload', ours('buildEmailPayload'), [280, 60], { campaignSource: 'input', step: 1, batchSize: 1000, options: {} }),
		node('Generate Email Copy', ours('generateEmailCopy'), [500, 60], { copySource: 'auto', tone: 'campaign', language: 'campaign', options: { onLlmFailure: 'template' } }),
		node('Send Email (SendGrid)', ours('sendEmailSendGrid'), [720, 60], { dryRun: true, outputMode: 'batch', limits: {}, options: {} }),
		node('Log Campaign Result', ours('logCampaignResult'), [940, 60], { outputMode: 'summary', finishRun: true }),
	];
	return workflow(
		'Email Campaign: stage pipeline',
		nodes,
		connect([
			['Start', 'Contacts CSV'],
			['Contacts CSV', 'Load Campaign Content'],
			['Load Campaign Content', 'Build Email Payload', 0],
			['Load Campaign Content', 'Invalid Rows', 1],
			['Build Email Payload', 'Generate Email Copy'],
			['Generate Email Copy', 'Send Email (SendGrid)'],
			['Send Email (SendGrid)', 'Log Campaign Result'],
		]),
	);
}

const templates = { 'campaign-pipeline.json': pipeline };

fs.mkdirSync(out, { recursive: true });
for (const [file, make] of Object.entries(templates)) {
	counter = 0;
	fs.writeFileSync(path.join(out, file), JSON.stringify(make(), null, '\t') + '\n');
	console.log(`wrote workflows/${file}`);
}
module.exports = { templates };
