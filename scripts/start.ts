/**
 * The main job: a local n8n 2.x with this package and every template loaded, on embedded defaults.
 *   npm start                  → runs until Ctrl-C (http://localhost:5678, PORT to change)
 *   START_CHECK=1 npm start    → starts, checks the instance and the templates, stops (used by CI)
 */
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalN8n, packPackage } from './n8n';

const ROOT = resolve(__dirname, '..');
const USER_FOLDER = resolve(process.env.N8N_LOCAL_FOLDER ?? join(ROOT, '.n8n-local'));
const PORT = Number(process.env.PORT ?? 5678);

async function main() {
	mkdirSync(join(USER_FOLDER, '.n8n'), { recursive: true });
	const ownerFile = join(USER_FOLDER, 'owner.json');
	// A folder made by an earlier version kept its key in a file: its credentials stay readable.
	const oldKey = join(USER_FOLDER, '.n8n', 'harness-key');
	const env: Record<string, string> = { N8N_HOST: 'localhost', ...(existsSync(oldKey) ? { N8N_ENCRYPTION_KEY: readFileSync(oldKey, 'utf8').trim() } : {}) };
	const n8n = new LocalN8n({ db: 'sqlite', port: PORT, userFolder: USER_FOLDER, persistent: true, env });
	if (existsSync(ownerFile)) Object.assign(n8n.owner, JSON.parse(readFileSync(ownerFile, 'utf8')));

	console.log('Building and installing n8n-nodes-email-campaign-agent (as a community package)…');
	n8n.installPackage(packPackage());
	console.log(`Starting n8n on http://localhost:${PORT} (first start installs Node 24 and n8n into ~/.cache/n8n-campaign-agent)…`);
	await n8n.start();
	await n8n.setupOwner();
	writeFileSync(ownerFile, JSON.stringify(n8n.owner, null, 2), { mode: 0o600 });

	const files = readdirSync(join(ROOT, 'workflows')).filter((f) => f.endsWith('.json')).sort();
	if (files.length === 0) console.log('workflows/ holds no templates to import.');
	const imported: string[] = [];
	let unsubscribe: string | undefined;
	for (const f of files) {
		const wf = JSON.parse(readFileSync(join(ROOT, 'workflows', f), 'utf8')) as { id: string; name: string; nodes: Array<{ type: string; webhookId?: string }> };
		const trigger = wf.nodes.find((n) => n.type.endsWith('.campaignUnsubscribeTrigger'));
		if (trigger?.webhookId) unsubscribe = `http://localhost:${PORT}/webhook/${trigger.webhookId}/unsubscribe   (live once "${wf.name}" is published)`;
		const exists = await n8n.rest('GET', `/workflows/${wf.id}`).then(() => true, () => false);
		if (!exists) await n8n.importWorkflow(wf as unknown as Record<string, unknown>);
		imported.push(`${wf.name} (${f})`);
	}

	const line = '─'.repeat(78);
	console.log(`\n${line}
 n8n is running: http://localhost:${PORT}
 Log in as ${n8n.owner.email} / ${n8n.owner.password}   (saved in ${ownerFile})
 Templates loaded (${imported.length}): ${imported.map((t) => `\n   • ${t}`).join('')}

 Running on embedded defaults — no API keys needed:
   • campaign store: embedded PGlite under ${join(USER_FOLDER, '.n8n', 'email-campaign-agent', 'store')}
   • copy: the campaign's template subject/body (no LLM credential selected)
   • sending: Dry Run — what would be sent is recorded, SendGrid is not called
 One-click unsubscribe URL (set it as each campaign's Unsubscribe URL; behind your public https address in production):
   ${unsubscribe ?? 'no template holds a Campaign Unsubscribe Trigger'}
 Not for production as it stands:${n8n.insecureSettings().map((w) => `\n   • ${w}`).join('')}
 To go live: add a "SendGrid Campaign API" credential and turn Dry Run off, add an
 "OpenAI-Compatible LLM API" credential for AI copy, and a "Campaign Database (Postgres)"
 credential for queue mode. Open "Email Campaign: stage pipeline" and click Execute workflow.
${line}\n`);

	if (process.env.START_CHECK) {
		const { id } = await n8n.importWorkflow({ ...JSON.parse(readFileSync(join(ROOT, 'workflows', 'campaign-pipeline.json'), 'utf8')), id: 'startCheckPipe01', name: 'start check' });
		const r = await n8n.execute(id);
		const summary = r.nodes['Log Campaign Result']?.[0]?.[0];
		await n8n.rest('DELETE', `/workflows/${id}`).catch(() => undefined);
		await n8n.stop();
		if (r.error || !summary) throw new Error(`the pipeline template did not run: ${r.error?.message ?? 'no summary'}`);
		console.log(`START_CHECK: the pipeline template ran in the local n8n: ${JSON.stringify(summary)}`);
		return;
	}
	const stop = async () => {
		console.log('\nStopping n8n…');
		await n8n.stop();
		process.exit(0);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
	await new Promise(() => undefined);
}

main().catch((e) => {
	console.error(`npm start failed: ${(e as Error).message}`);
	process.exit(1);
});
