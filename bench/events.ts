/**
 * bench:events — 100,000 signed SendGrid events in POSTs of 1,000 through a real n8n webhook into
 * Postgres: the SendGrid Trigger (verification + dedupe + store) next to n8n's generic approach
 * (Webhook → Split Out → Postgres insert with skip-on-conflict), measured in the same run. The
 * generic baseline is slow (hundreds of events/s), so it gets a slice of the events; the JSON says how many.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startN8nWithPackage } from '../test/e2e/n8n';
import { SendGridSimulator, SendGridEvent } from '../test/simulators/sendgridServer';
import { createTestDatabase, ensurePostgres } from '../test/helpers/services';
import { eventually } from '../test/e2e/helpers';
import { report } from './common';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BASELINE_EVENTS = Number(process.env.BENCH_BASELINE_EVENTS ?? 20_000);
const PER_POST = 1000;
const IN_FLIGHT = 4;

function synthetic(n: number, campaign: string): SendGridEvent[] {
	const kinds = ['processed', 'delivered', 'open', 'click', 'deferred'];
	return Array.from({ length: n }, (_, i) => ({
		email: `user${i % 25_000}@bench.example`,
		event: kinds[i % kinds.length],
		timestamp: Math.floor(Date.now() / 1000),
		sg_event_id: randomBytes(16).toString('base64url'),
		sg_message_id: `msg${Math.floor(i / 1000)}.filter-${i}`,
		campaign_id: campaign,
		run_id: 'bench',
		step: '1',
		variant: 'A',
		delivery_id: `d${i % 25_000}`,
	}));
}

function percentile(xs: number[], p: number): number {
	const s = [...xs].sort((a, b) => a - b);
	return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}

async function main() {
	await ensurePostgres();
	const sim = new SendGridSimulator();
	const db = await createTestDatabase('eca_bench_events');
	const n8n = await startN8nWithPackage();
	const pg = new Client({ host: db.connection.host, port: db.connection.port, user: db.connection.user, database: db.connection.database });
	try {
		await pg.connect();
		const c = db.connection;
		const storeCred = { id: await n8n.createCredential('campaignDatabaseApi', 'bench store', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' }), name: 'bench store' };
		const pgCred = { id: await n8n.createCredential('postgres', 'bench pg', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', ssl: 'disable', allowUnauthorizedCerts: false, sshTunnel: false }), name: 'bench pg' };

		// Ours: SendGrid Trigger, manual registration with the simulator's key, one item per POST.
		const ours = await n8n.importWorkflow({
			id: 'benchEventsOurs1',
			name: 'bench events: SendGrid Trigger',
			nodes: [
				{ id: 't', name: 'SendGrid Trigger', type: 'n8n-nodes-email-campaign-agent.sendGridTrigger', typeVersion: 1, position: [0, 0], webhookId: '11111111-2222-4333-8444-555555555555', parameters: { registration: 'manual', publicKey: sim.publicKey, output: process.env.BENCH_OUTPUT ?? 'none', options: { binaryData: true } } },
				{ id: 'n', name: 'Done', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
			],
			connections: { 'SendGrid Trigger': { main: [[{ node: 'Done', type: 'main', index: 0 }]] } },
		}, { campaignDatabaseApi: storeCred });
		// Generic: Webhook → Split Out → Postgres insert (skip on conflict), answering when written.
		await pg.query('CREATE TABLE bench_events (sg_event_id text PRIMARY KEY, event text, email text, timestamp bigint, sg_message_id text, campaign_id text, run_id text, step text, variant text, delivery_id text)');
		const generic = await n8n.importWorkflow({
			id: 'benchEventsGen01',
			name: 'bench events: generic',
			nodes: [
				{ id: 'w', name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: '66666666-7777-4888-8999-000000000000', parameters: { httpMethod: 'POST', path: 'generic-events', responseMode: 'lastNode', options: {} } },
				{ id: 's', name: 'Split Out', type: 'n8n-nodes-base.splitOut', typeVersion: 1, position: [220, 0], parameters: { fieldToSplitOut: 'body', options: {} } },
				{
					id: 'p',
					name: 'Postgres',
					type: 'n8n-nodes-base.postgres',
					typeVersion: 2.6,
					position: [440, 0],
					parameters: { operation: 'insert', schema: { __rl: true, mode: 'list', value: 'public' }, table: { __rl: true, mode: 'name', value: 'bench_events' }, columns: { mappingMode: 'autoMapInputData', value: {}, matchingColumns: [], schema: [] }, options: { skipOnConflict: true } },
					credentials: { postgres: pgCred },
				},
			],
			connections: { Webhook: { main: [[{ node: 'Split Out', type: 'main', index: 0 }]] }, 'Split Out': { main: [[{ node: 'Postgres', type: 'main', index: 0 }]] } },
		});
		await n8n.activate(ours.id);
		await n8n.activate(generic.id);
		const ourUrl = n8n.webhookUrl('11111111-2222-4333-8444-555555555555/events');
		await eventually(async () => (await fetch(ourUrl, { method: 'POST', body: '[]' })).status === 403, 'the trigger webhook to be live');
		await eventually(async () => (await fetch(n8n.webhookUrl('generic-events'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })).status !== 404, 'the generic webhook to be live');

		const events = synthetic(EVENTS, 'bench-ours');
		let t0 = performance.now();
		const answers = await sim.postEvents(ourUrl, events, { batchSize: PER_POST, concurrency: IN_FLIGHT });
		const wall = performance.now() - t0;
		const replay = await sim.replayLastBatch();
		const stored = Number((await pg.query(`SELECT count(*) AS n FROM eca_events WHERE campaign_id = 'bench-ours'`)).rows[0].n);
		const failedPosts = answers.filter((a) => a.status !== 200).length + (replay.status === 200 ? 0 : 1);

		const baselineEvents = synthetic(BASELINE_EVENTS, 'bench-generic');
		t0 = performance.now();
		const baseAnswers = await sim.postEvents(n8n.webhookUrl('generic-events'), baselineEvents, { batchSize: PER_POST, concurrency: IN_FLIGHT });
		const baseWall = performance.now() - t0;
		const baseStored = Number((await pg.query('SELECT count(*) AS n FROM bench_events')).rows[0].n);
		const ms = answers.map((a) => a.ms);
		const eventsPerS = Math.round(EVENTS / (wall / 1000));
		const baselinePerS = Math.round(BASELINE_EVENTS / (baseWall / 1000));
		console.log(`SendGrid Trigger: ${EVENTS} events in ${(wall / 1000).toFixed(1)} s (${eventsPerS}/s), p50 ${percentile(ms, 50)} ms, p99 ${percentile(ms, 99)} ms per ${PER_POST}-event POST, ${stored} stored, ${failedPosts} failed POSTs`);
		console.log(`generic Webhook → Split Out → Postgres: ${BASELINE_EVENTS} events in ${(baseWall / 1000).toFixed(1)} s (${baselinePerS}/s), p50 ${percentile(baseAnswers.map((a) => a.ms), 50)} ms, ${baseStored} stored`);
		report({
			bench: 'events',
			events: EVENTS,
			events_per_s: eventsPerS,
			p50_ms: percentile(ms, 50),
			p99_ms: percentile(ms, 99),
			duplicates: stored > EVENTS ? stored - EVENTS : 0,
			lost: Math.max(0, EVENTS - stored),
			failed_posts: failedPosts,
			baseline_events: BASELINE_EVENTS,
			baseline_events_per_s: baselinePerS,
			baseline_stored: baseStored,
			ratio: Math.round((eventsPerS / baselinePerS) * 10) / 10,
		});
	} finally {
		await pg.end().catch(() => undefined);
		await n8n.stop();
		await db.drop();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
