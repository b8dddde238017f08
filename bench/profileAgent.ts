/**
 * CPU profiles of the Campaign Agent's run: inside n8n (the n8n main process started with
 * `--cpu-prof` through NODE_OPTIONS; the profile is written when n8n exits) and in a plain Node 24
 * process (bench/plainAgent.ts), both from the same packed package, against the same simulator.
 *
 * `npx tsx bench/profileAgent.ts [--contacts 100000] [--out /tmp/eca-prof] [--runs 1] [--plain] [--pipeline]`
 * then `npx tsx bench/cpuProfile.ts <out>/n8n/<file>.cpuprofile --timeline` and so on.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startN8nWithPackage } from '../test/e2e/n8n';
import { installedPackage, packPackage } from '../scripts/n8n';
import { startSimulatorProcess } from '../test/simulators/serve';
import { createTestDatabase, ensurePostgres } from '../test/helpers/services';
import { runCampaign } from './n8nCampaign';
import { runPlainAgent } from './plainAgent';
import { arg } from './common';

const flag = (name: string) => process.argv.includes(`--${name}`);

async function main() {
	const n = Number(arg('contacts') ?? 100_000);
	const out = resolve(arg('out') ?? '/tmp/eca-prof');
	const runs = Number(arg('runs') ?? 1);
	rmSync(out, { recursive: true, force: true });
	mkdirSync(join(out, 'n8n'), { recursive: true });
	await ensurePostgres();
	const sim = await startSimulatorProcess({ latencyMs: 20 });
	const db = await createTestDatabase('eca_bench_prof');
	const c = db.connection;
	const results: Record<string, unknown>[] = [];
	try {
		if (!flag('no-n8n')) {
			const nodeOptions = flag('no-prof') ? '' : `--cpu-prof --cpu-prof-dir=${join(out, 'n8n')}`;
			const n8n = await startN8nWithPackage({ env: { EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'none', NODE_OPTIONS: `${nodeOptions} ${process.env.ECA_N8N_NODE_OPTIONS ?? ''}`.trim() } });
			try {
				const creds = {
					sendGridCampaignApi: { id: await n8n.createCredential('sendGridCampaignApi', 'sim', { apiKey: 'SG.test-key', region: 'custom', baseUrl: sim.baseUrl }), name: 'sim' },
					campaignDatabaseApi: { id: await n8n.createCredential('campaignDatabaseApi', 'db', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' }), name: 'db' },
				};
				const rig = { n8n, sim, creds };
				// One agent run per n8n: the workflow's campaign id is fixed, so a second run would find every delivery claimed.
				const agent = await runCampaign(rig, 'agent', n);
				const summary = agent.response as Record<string, unknown> | Array<Record<string, unknown>>;
				const first = Array.isArray(summary) ? summary[0] : summary;
				results.push({ what: 'n8n agent', wall_s: agent.wall_s, duration_s: Number(first?.duration_ms) / 1000, requests: agent.requests, accepted: agent.accepted, peak_rss_mb: agent.peak_rss_mb });
				console.error(JSON.stringify(results.at(-1)));
				if (flag('pipeline')) {
					const p = await runCampaign(rig, 'pipeline', n);
					results.push({ what: 'n8n stage nodes', wall_s: p.wall_s, requests: p.requests, accepted: p.accepted, peak_rss_mb: p.peak_rss_mb });
					console.error(JSON.stringify(results.at(-1)));
				}
			} finally {
				await n8n.stop();
			}
			console.error(`n8n profiles: ${readdirSync(join(out, 'n8n')).join(', ')}`);
		}
		if (flag('plain') || flag('no-n8n')) {
			const packageDir = installedPackage(packPackage()).dir;
			for (let i = 0; i < runs; i++) {
				const r = await runPlainAgent({
					simBaseUrl: sim.baseUrl,
					db: { host: c.host, port: c.port, database: c.database, user: c.user },
					contacts: n,
					simStats: () => sim.stats(),
					packageDir,
					nodeArgs: flag('no-prof') ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(out, 'plain')}`],
				});
				results.push({ what: 'plain node 24 agent', wall_s: r.wall_s, duration_s: r.agent_s, requests: r.requests, accepted: r.accepted });
				console.error(JSON.stringify(results.at(-1)));
			}
		}
	} finally {
		await sim.stop();
		await db.drop();
	}
	console.log(JSON.stringify({ bench: 'profile-agent', contacts: n, out, results }));
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
