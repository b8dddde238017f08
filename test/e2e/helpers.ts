/**
 * Shared set-up for real-n8n tests. `useN8nRig()` is the one fixture: per test file, one n8n with
 * the package installed, the two simulators, a campaign database, credentials pointing at them and a
 * Postgres client on that database. The rest builds workflows from the templates the way the tests
 * need them (contacts, a live pipeline, one node behind a manual trigger, the scheduler's branches).
 */
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { InstanceOptions, N8nInstance, startN8nWithPackage } from './n8n';
import { SendGridSimulator, SendGridSimulatorOptions, WebhookSetting } from '../simulators/sendgridServer';
import { OpenAISimulator, OpenAISimulatorOptions } from '../simulators/openaiServer';
import { createTestDatabase, ensurePostgres, ensureRedis } from '../helpers/services';
import type { PostgresConnection } from '../../lib/store';

export interface Rig {
	sg: SendGridSimulator;
	llm: OpenAISimulator;
	db: { connection: PostgresConnection; drop: () => Promise<void> };
	creds: Record<string, { id: string; name: string }>;
}

export interface RigOptions {
	sg?: SendGridSimulatorOptions;
	llm?: OpenAISimulatorOptions;
	/** Credentials beyond the SendGrid, LLM and database ones, by type (JWT, basic auth...). */
	credentials?: Record<string, { name: string; data: Record<string, unknown> }>;
}

/** The simulators and a fresh campaign database, and n8n credentials for the three. */
export async function rig(n8n: N8nInstance, options: RigOptions = {}): Promise<Rig> {
	const sg = new SendGridSimulator(options.sg);
	const llm = new OpenAISimulator(options.llm);
	await Promise.all([sg.start(), llm.start()]);
	const db = await createTestDatabase('eca_e2e_store');
	const c = db.connection;
	const creds: Rig['creds'] = {};
	const add = async (type: string, name: string, data: Record<string, unknown>) => (creds[type] = { id: await n8n.createCredential(type, name, data), name });
	await add('sendGridCampaignApi', 'SendGrid (simulator)', { ...sg.credential(), webhookPublicKey: '' });
	await add('campaignLlmApi', 'LLM (simulator)', llm.credential());
	await add('campaignDatabaseApi', 'Campaign DB', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' });
	for (const [type, { name, data }] of Object.entries(options.credentials ?? {})) await add(type, name, data);
	return { sg, llm, db, creds };
}

export async function closeRig(r: Rig | undefined): Promise<void> {
	if (!r) return;
	await Promise.all([r.sg.stop(), r.llm.stop()]);
	await r.db.drop();
}

export interface N8nRigOptions extends RigOptions {
	/** How n8n runs: queue mode (`workers`, `workerConcurrency`), its database... */
	n8n?: InstanceOptions;
}

/** What a test file works with; filled in by the fixture's beforeAll, so read it inside tests. */
export interface N8nRig {
	n8n: N8nInstance;
	r: Rig;
	/** A client on the campaign database. */
	pg: Client;
	/** Rows of one query on the campaign database. */
	q: <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;
	/** Publishes the event-tracking template (or a variant of it) and waits for its Event Webhook registration. */
	publishTracking: (wf?: Workflow) => Promise<{ id: string; hook: WebhookSetting }>;
	/** The Inbound Parse secret n8n gives a published SendGrid Trigger by default: its node id and webhook id. */
	inboundSecret: (workflowId: string) => Promise<{ secret: string; trigger: { id: string; webhookId: string } }>;
}

/**
 * The e2e fixture: registers this file's beforeAll (Postgres, Redis for queue mode, n8n with the
 * package, the rig, a database client) and the afterAll that stops them all.
 */
export function useN8nRig(options: N8nRigOptions = {}): N8nRig {
	const t = {} as N8nRig;
	beforeAll(async () => {
		await ensurePostgres();
		if (options.n8n?.workers) await ensureRedis();
		t.n8n = await startN8nWithPackage(options.n8n);
		t.r = await rig(t.n8n, options);
		const { host, port, user, database } = t.r.db.connection;
		t.pg = new Client({ host, port, user, database });
		t.pg.on('error', () => undefined); // a dropped connection fails the next query, not the process
		await t.pg.connect();
	});
	afterAll(async () => {
		await t.pg?.end();
		await t.n8n?.stop();
		await closeRig(t.r);
	});
	t.q = async <T,>(sql: string, params: unknown[] = []) => (await t.pg.query(sql, params)).rows as T[];
	t.publishTracking = async (wf = template('sendgrid-event-tracking.json')) => {
		const before = new Set(t.r.sg.webhooks.map((w) => w.url));
		const { id } = await t.n8n.importWorkflow(wf, t.r.creds);
		await t.n8n.activate(id);
		const hook = (await eventually(() => t.r.sg.webhooks.find((w) => !before.has(w.url)), 'the trigger to register its event webhook'))!;
		return { id, hook };
	};
	t.inboundSecret = async (workflowId) => {
		type Saved = { nodes: Array<{ type: string; id: string; webhookId: string }> };
		const saved = await t.n8n.rest<Partial<Saved> & { data?: Saved }>('GET', `/workflows/${workflowId}`);
		const trigger = (saved.nodes ?? saved.data!.nodes).find((n) => n.type.endsWith('.sendGridTrigger'))!;
		return { secret: `${trigger.id}.${trigger.webhookId}`, trigger };
	};
	return t;
}

type Node = { name: string; type: string; parameters: Record<string, unknown> };
export type Workflow = { nodes: Node[]; [k: string]: unknown };

export function template(file: string): Workflow {
	return JSON.parse(readFileSync(`workflows/${file}`, 'utf8'));
}

export function node(wf: { nodes: Node[] }, name: string): Node {
	const n = wf.nodes.find((x) => x.name === name);
	if (!n) throw new Error(`template has no node "${name}"`);
	return n;
}

/** Puts a CSV into the template's "Contacts CSV" node. */
export function setContacts(wf: Workflow, csv: string): Workflow {
	(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csv;
	return wf;
}

/** Where the tests' live campaigns say their unsubscribe endpoint is (live marketing sends need one, https). */
export const UNSUBSCRIBE_URL = 'https://unsubscribe.example/u';

/** Gives a node that defines a campaign (Load Campaign Content, Campaign Agent, Enroll) an unsubscribe URL, in its fields or its JSON. */
export function withUnsubscribe(n: Node, url = UNSUBSCRIBE_URL): Node {
	if (n.parameters.campaignSource === 'json') n.parameters.campaignJson = JSON.stringify({ ...JSON.parse(String(n.parameters.campaignJson)), unsubscribeUrl: url }, null, 2);
	else n.parameters.campaignOptions = { ...(n.parameters.campaignOptions as Record<string, unknown> | undefined), unsubscribeUrl: url };
	return n;
}

/** workflows/campaign-pipeline.json sending for real (not Dry Run) to these contacts under this campaign id. */
export function livePipeline(id: string, name: string, campaignId: string, csv: string): Workflow {
	const wf = setContacts({ ...template('campaign-pipeline.json'), id, name }, csv);
	withUnsubscribe(node(wf, 'Load Campaign Content')).parameters.campaignId = campaignId;
	node(wf, 'Send Email (SendGrid)').parameters.dryRun = false;
	return wf;
}

/** One node of a template behind a manual trigger, so the CLI can run it (with the clock the test chose). */
export function manualRun(wf: Workflow, only: Node, id: string, name: string): Workflow {
	const run = { id: 'manual', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} };
	return { ...wf, id, name, nodes: [run as Node, only], connections: { Run: { main: [[{ node: only.name, type: 'main', index: 0 }]] } } };
}

/** The scheduler template split into its two branches, so the CLI can run each with a chosen clock. */
function schedulerBranch(kind: 'enroll' | 'tick', at: number, opts: { csv: string; id: string; name: string; unsubscribeUrl?: string }): Workflow {
	const wf = template('sequence-scheduler.json');
	if (kind === 'enroll') {
		setContacts(wf, opts.csv);
		withUnsubscribe(node(wf, 'Enroll Contacts'), opts.unsubscribeUrl).parameters.asOf = new Date(at).toISOString();
		const connections = { ...(wf.connections as Record<string, unknown>) };
		delete connections['Every 15 Minutes'];
		return { ...wf, id: opts.id, name: opts.name, connections, nodes: wf.nodes.filter((n) => n.name !== 'Every 15 Minutes' && n.name !== 'Send Due Steps') };
	}
	const send = node(wf, 'Send Due Steps');
	Object.assign(send.parameters, { asOf: new Date(at).toISOString(), dryRun: false });
	return manualRun(wf, send, opts.id, opts.name);
}

/** The scheduler tests' clock: a Monday morning, and a day. */
export const T0 = Date.parse('2026-03-02T10:00:00Z');
export const DAY = 86_400_000;

/**
 * The sequence scheduler run through the CLI with a clock the test chooses: `enroll(at)` enrolls the
 * contacts and answers the Enroll Contacts summary, `tick(at)` sends what is due then (no error) and
 * answers the Send Due Steps items. `ids` are the two workflows' ids (n8n's 16 characters).
 */
export function sequenceScheduler(t: N8nRig, opts: { csv: string; ids: { enroll: string; tick: string }; name: string; unsubscribeUrl?: string }) {
	const run = async (kind: 'enroll' | 'tick', at: number) => {
		const { id } = await t.n8n.importWorkflow(schedulerBranch(kind, at, { csv: opts.csv, id: opts.ids[kind], name: `${opts.name} ${kind}`, unsubscribeUrl: opts.unsubscribeUrl }), t.r.creds);
		return t.n8n.execute(id);
	};
	return {
		enroll: async (at: number) => (await run('enroll', at)).nodes['Enroll Contacts'][0][0],
		tick: async (at: number) => {
			const out = await run('tick', at);
			expect(out.error).toBeUndefined();
			return out.nodes['Send Due Steps'][0];
		},
	};
}

export { csv250 } from '../helpers/fixtures';

/** n8n 2.x publishes through an outbox: activation effects (webhook registration) land shortly after the call. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await check();
		if (v) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, intervalMs));
	}
}
