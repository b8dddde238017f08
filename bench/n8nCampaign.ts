/**
 * Runs a 100,000-contact campaign through a real n8n (CSV uploaded to a Webhook as a file), either
 * with the Campaign Agent node or with the five stage nodes, against the SendGrid simulator in its
 * own process, sampling the n8n process's memory.
 */
import { request as httpRequest } from 'node:http';
import { type InstanceOptions, startN8nWithPackage } from '../test/e2e/n8n';
import { startSimulatorProcess } from '../test/simulators/serve';
import { createTestDatabase, ensurePostgres } from '../test/helpers/services';
import { eventually } from '../test/e2e/helpers';
import { contacts, csvOf } from '../test/helpers/fixtures';
import { pipelineWorkflow } from './pipelineWorkflow';

export interface CampaignRun {
	wall_s: number;
	requests: number;
	accepted: number;
	peak_rss_mb: number;
	idle_rss_mb: number;
	response: unknown;
}

export const ours = (t: string) => `n8n-nodes-email-campaign-agent.${t}`;
export const campaign = (id: string) => ({
	campaignSource: 'fields',
	campaignId: id,
	fromEmail: 'news@example.com',
	fromName: 'Bench',
	tone: 'friendly',
	language: 'en',
	brief: { product: 'Bench skates', links: 'https://acme.example/sale' },
	sequence: 'single',
	subject: 'Hi {{first_name|there}}, bench time',
	body: '<p>Hello {{first_name|there}},</p><p>This is a benchmark email.</p>',
	campaignOptions: { fallbacks: 'first_name=there', unsubscribeUrl: 'https://unsubscribe.example/u' },
});
export const limits = { requestsPerSecond: 0, concurrency: 8 };

export function webhook(path: string) {
	return { id: 'w', name: 'Upload CSV', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: `bench-${path}`, parameters: { httpMethod: 'POST', path, responseMode: 'lastNode', options: { binaryPropertyName: 'data' } } };
}

/** The Campaign Agent's parameters in every agent benchmark (the contacts source comes on top). */
export function agentParameters(campaignId: string) {
	return { ...campaign(campaignId), copySource: 'template', dryRun: false, limits, deliveryOptions: {}, batchSize: 1000, stepsToSend: 'first', runId: '', resume: false, outputRows: false };
}

function agentWorkflow() {
	return {
		id: 'benchAgent000001',
		name: 'bench: campaign agent',
		nodes: [
			webhook('bench-agent'),
			{ id: 'a', name: 'Campaign Agent', type: ours('campaignAgent'), typeVersion: 1, position: [220, 0], parameters: { ...agentParameters('bench-agent'), contactSource: 'csvBinary', binaryPropertyName: 'data' } },
		],
		connections: { 'Upload CSV': { main: [[{ node: 'Campaign Agent', type: 'main', index: 0 }]] } },
	};
}

export async function campaignRig(latencyMs = 20, options: InstanceOptions = {}) {
	await ensurePostgres();
	const sim = await startSimulatorProcess({ latencyMs });
	const db = await createTestDatabase('eca_bench_n8n');
	const n8n = await startN8nWithPackage({ ...options, env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none', ...options.env } });
	const c = db.connection;
	const creds = {
		sendGridCampaignApi: { id: await n8n.createCredential('sendGridCampaignApi', 'sim', { apiKey: 'SG.test-key', region: 'custom', baseUrl: sim.baseUrl }), name: 'sim' },
		campaignDatabaseApi: { id: await n8n.createCredential('campaignDatabaseApi', 'db', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' }), name: 'db' },
	};
	return {
		n8n,
		sim,
		db,
		creds,
		close: async () => {
			await n8n.stop();
			await sim.stop();
			await db.drop();
		},
	};
}
export type CampaignRig = Awaited<ReturnType<typeof campaignRig>>;

/** Imports and publishes a workflow whose first node is a POST webhook on `path`, and waits until n8n serves it (probed with GET and HEAD, which never start it). */
export async function publish(rig: Pick<CampaignRig, 'n8n' | 'creds'>, wf: Record<string, unknown>, path: string): Promise<string> {
	const { id } = await rig.n8n.importWorkflow(wf, rig.creds);
	await rig.n8n.activate(id);
	const url = rig.n8n.webhookUrl(path);
	await eventually(async () => (await fetch(url, { method: 'GET' })).status !== 404 || (await fetch(url, { method: 'HEAD' })).status === 405, 'webhook live', 60_000).catch(() => undefined);
	await new Promise((r) => setTimeout(r, 2000));
	return url;
}

/** One HTTP request without a client timeout (a million-contact run answers after minutes). */
function request(url: string, method: string, body?: string, contentType = 'text/csv'): Promise<{ status: number; text: string }> {
	return new Promise((resolve, reject) => {
		const req = httpRequest(url, { method, headers: body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
			const parts: Buffer[] = [];
			res.on('data', (d: Buffer) => parts.push(d));
			res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(body);
	});
}

/** Calls a published webhook and measures the run: wall time, SendGrid requests and accepted messages, n8n's RSS (every process) before and at its peak. */
export async function timedRun(rig: Pick<CampaignRig, 'n8n' | 'sim'>, label: string, url: string, method: string, body?: string, contentType?: string): Promise<CampaignRun> {
	const before = await rig.sim.stats();
	const idle = rig.n8n.rssMb();
	let peak = idle;
	const sampler = setInterval(() => (peak = Math.max(peak, rig.n8n.rssMb())), 100);
	const t0 = performance.now();
	const res = await request(url, method, body, contentType).finally(() => clearInterval(sampler));
	const wall = performance.now() - t0;
	peak = Math.max(peak, rig.n8n.rssMb());
	if (res.status >= 300) throw new Error(`${label} run failed: ${res.status} ${res.text.slice(0, 500)}\n${rig.n8n.logs().slice(-2000)}`);
	const after = await rig.sim.stats();
	return { wall_s: Math.round(wall) / 1000, requests: after.requests - before.requests, accepted: after.accepted - before.accepted, peak_rss_mb: peak, idle_rss_mb: idle, response: JSON.parse(res.text) };
}

export async function runCampaign(rig: Pick<CampaignRig, 'n8n' | 'sim' | 'creds'>, kind: 'agent' | 'pipeline', n: number): Promise<CampaignRun> {
	const wf = kind === 'agent' ? agentWorkflow() : pipelineWorkflow();
	const url = await publish(rig, wf as unknown as Record<string, unknown>, `bench-${kind}`);
	return timedRun(rig, kind, url, 'POST', csvOf(contacts(n, `${kind}.bench`)));
}
