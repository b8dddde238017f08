/** Shared set-up for real-n8n tests: simulators, a campaign database, credentials pointing at them. */
import { readFileSync } from 'node:fs';
import { N8nInstance } from './n8n';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { OpenAISimulator } from '../simulators/openaiServer';
import { createTestDatabase } from '../helpers/services';
import type { PostgresConnection } from '../../lib/store';

export interface Rig {
	sg: SendGridSimulator;
	llm: OpenAISimulator;
	db: { connection: PostgresConnection; drop: () => Promise<void> };
	creds: Record<string, { id: string; name: string }>;
}

export async function rig(n8n: N8nInstance, sgOptions: ConstructorParameters<typeof SendGridSimulator>[0] = {}): Promise<Rig> {
	const sg = new SendGridSimulator(sgOptions);
	const llm = new OpenAISimulator();
	await Promise.all([sg.start(), llm.start()]);
	const db = await createTestDatabase('eca_e2e_store');
	const c = db.connection;
	const creds: Rig['creds'] = {};
	const add = async (type: string, name: string, data: Record<string, unknown>) => (creds[type] = { id: await n8n.createCredential(type, name, data), name });
	await add('sendGridCampaignApi', 'SendGrid (simulator)', { apiKey: 'SG.test-key', region: 'custom', baseUrl: sg.baseUrl, webhookPublicKey: '' });
	await add('campaignLlmApi', 'LLM (simulator)', { apiKey: 'sk-test', baseUrl: `${llm.baseUrl}/v1`, model: 'gpt-4o-mini' });
	await add('campaignDatabaseApi', 'Campaign DB', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' });
	return { sg, llm, db, creds };
}

export async function closeRig(r: Rig | undefined): Promise<void> {
	if (!r) return;
	await Promise.all([r.sg.stop(), r.llm.stop()]);
	await r.db.drop();
}

type Node = { name: string; type: string; parameters: Record<string, unknown> };
export function template(file: string): { nodes: Node[]; [k: string]: unknown } {
	return JSON.parse(readFileSync(`workflows/${file}`, 'utf8'));
}

export function node(wf: { nodes: Node[] }, name: string): Node {
	const n = wf.nodes.find((x) => x.name === name);
	if (!n) throw new Error(`template has no node "${name}"`);
	return n;
}

export { csv250 } from '../helpers/fixtures';

/** n8n 2.x publishes through an outbox: activation effects (webhook registration) land shortly after the call. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const v = await check();
		if (v) return v;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 250));
	}
}
