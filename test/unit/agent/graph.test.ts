/** The Campaign Agent graph: edges for 0, 1 and many batches, sequences, checkpoints and resume. */
import { closeAllStores, getCampaignStore, CampaignStore, Queryable, SqlDriver } from '../../../lib/store';
import { runCampaignAgent, AgentConfig, AgentDeps } from '../../../lib/agent/graph';
import { StoreCheckpointSaver } from '../../../lib/agent/checkpointer';
import type { SendGridResponse, SendGridTransport } from '../../../lib/sendgrid/client';
import type { MailSendBody } from '../../../lib/sendgrid/mailRequest';
import { campaignInput, contacts, csvOf } from '../../helpers/fixtures';
import { sql } from '../../helpers/sql';

jest.setTimeout(60_000);

class CountingSendGrid implements SendGridTransport {
	accepted: string[] = [];
	requests = 0;
	constructor(private crashAtRequest = Infinity) {}
	async sendMail(body: MailSendBody): Promise<SendGridResponse> {
		this.requests++;
		if (this.requests === this.crashAtRequest) throw new Error('process killed');
		this.accepted.push(...body.personalizations.map((p) => `${p.custom_args.step}:${p.to[0].email}`));
		return { status: 202, headers: { 'x-message-id': `m${this.requests}` }, body: '' };
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

let store: CampaignStore;
let n = 0;
beforeAll(async () => (store = await getCampaignStore({ inMemory: true })));
afterAll(() => closeAllStores());

function setup(contactCount: number, overrides: Partial<AgentConfig> = {}, sg = new CountingSendGrid()) {
	const id = `agent-${++n}`;
	const twoSteps = [
		{ step: 1, delayHours: 0, subject: 'Hello {{first_name}}', text: 'Step one for {{first_name}}' },
		{ step: 2, delayHours: 72, subject: 'Again {{first_name}}', text: 'Step two for {{first_name}}' },
	];
	const config: AgentConfig = {
		campaign: campaignInput({ id, steps: twoSteps }),
		contacts: { kind: 'csv', data: contactCount ? csvOf(contacts(contactCount)) : 'email,first_name\n' },
		batchSize: 100,
		chunkSize: 300,
		copy: { mode: 'template' },
		sendOptions: { backoff: { sleep: async () => undefined } },
		...overrides,
	};
	const progress: number[] = [];
	const deps: AgentDeps = { store, send: { transport: sg, store }, generate: { store }, onProgress: (p) => void progress.push(p.processed) };
	return { id, config, deps, sg, progress, runId: `run-${id}` };
}

describe('Campaign Agent graph', () => {
	it('one batch: every contact once, summary counts, run finished', async () => {
		const { config, deps, sg, runId } = setup(50);
		const r = await runCampaignAgent(config, deps, { runId });
		expect(r.counts).toMatchObject({ sent: 50, requests: 1, batches: 1 });
		expect(sg.accepted).toHaveLength(50);
		expect((await store.getRun(runId))?.status).toBe('finished');
	});

	it('many batches loop back to build until no recipient is left, reporting progress each loop', async () => {
		const { config, deps, sg, progress, runId } = setup(1000);
		const r = await runCampaignAgent(config, deps, { runId });
		expect(r.counts.sent).toBe(1000);
		expect(sg.requests).toBe(10);
		expect(progress).toEqual([300, 600, 900, 1000]);
		expect(new Set(sg.accepted).size).toBe(1000);
	});

	it('the log writes only what the send did not already store: sent rows are not written twice, dry-run rows are written', async () => {
		const logged: string[] = [];
		const recordResults = jest.spyOn(store, 'recordResults').mockImplementation(async function (this: CampaignStore, results) {
			logged.push(...results.map((r) => r.status));
			return CampaignStore.prototype.recordResults.call(this, results);
		});
		const counts = (runId: string) => sql(store).query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM eca_deliveries WHERE run_id = $1 GROUP BY status', [runId]);
		try {
			const live = setup(250);
			expect((await runCampaignAgent(live.config, live.deps, { runId: live.runId })).counts.sent).toBe(250);
			// The send claimed and then marked each row sent; the log wrote none of them again.
			expect(logged).toEqual([]);
			expect((await counts(live.runId)).rows).toEqual([{ status: 'sent', n: 250 }]);

			// A dry run stores nothing while it sends: its rows come from the log.
			const rehearsal = setup(120, { sendOptions: { dryRun: true, backoff: { sleep: async () => undefined } } });
			await runCampaignAgent(rehearsal.config, rehearsal.deps, { runId: rehearsal.runId });
			expect(logged).toEqual(Array(120).fill('dry_run'));
			expect((await counts(rehearsal.runId)).rows).toEqual([{ status: 'dry_run', n: 120 }]);
		} finally {
			recordResults.mockRestore();
		}
	});

	it('zero contacts goes straight to done; the CSV error is reported by load', async () => {
		const { config, deps, runId } = setup(0);
		await expect(runCampaignAgent(config, deps, { runId })).rejects.toThrow(/header row but no contacts/);
		const empty = setup(1, { contacts: { kind: 'rows', rows: [] } });
		const r = await runCampaignAgent(empty.config, empty.deps, { runId: empty.runId });
		expect(r).toMatchObject({ total: 0, steps: [1], counts: {} });
	});

	it('a multi-step run loops from done back to load for the next step', async () => {
		const { config, deps, sg, runId } = setup(120, { steps: [1, 2] });
		const r = await runCampaignAgent(config, deps, { runId });
		expect(r.steps).toEqual([1, 2]);
		expect(r.counts.sent).toBe(240);
		expect(sg.accepted.filter((a) => a.startsWith('2:'))).toHaveLength(120);
	});

	it('resumes a crashed run from its checkpoint without sending anything twice', async () => {
		const crashing = new CountingSendGrid(6);
		const { config, deps, runId } = setup(1000, {}, crashing);
		const checkpointer = new StoreCheckpointSaver(store);
		await expect(runCampaignAgent(config, deps, { runId, checkpointer })).rejects.toThrow(/process killed/);
		expect(crashing.accepted).toHaveLength(500);
		// The run says it stopped and can be resumed, with the reason; it is not left "running".
		expect(await store.getRun(runId)).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/process killed/) });
		// The crashed request's recipients are claimed but unconfirmed; nothing went out for them.
		const fresh = new CountingSendGrid();
		const resumed = await runCampaignAgent(config, { ...deps, send: { transport: fresh, store } }, { runId, checkpointer, resume: true });
		expect(resumed.resumed).toBe(true);
		expect(await store.getRun(runId)).toMatchObject({ status: 'finished', error: null });
		expect(fresh.accepted).toHaveLength(400);
		expect(resumed.counts.unconfirmed).toBe(100);
		const all = [...crashing.accepted, ...fresh.accepted];
		expect(new Set(all).size).toBe(all.length);
		// With processed events absent for a while, the unconfirmed ones are sent on a later resume.
		const reconcile = new CountingSendGrid();
		const again = await runCampaignAgent(
			{ ...config, sendOptions: { ...config.sendOptions, resendUnconfirmedAfterSeconds: 0 } },
			{ ...deps, send: { transport: reconcile, store } },
			{ runId: `${runId}-reconcile` },
		);
		expect(reconcile.accepted).toHaveLength(100);
		expect(again.counts.already_sent).toBe(900);
		expect(new Set([...all, ...reconcile.accepted]).size).toBe(1000);
	});

	it('resumes a run killed after a step finished but before its checkpoint was written', async () => {
		// The step's writes are saved as it finishes; the process dies before the next checkpoint. LangGraph then
		// lists no "next" node (the finished one has its writes), yet the run is not over and must resume.
		// Once "dead", nothing more is persisted and nothing more is sent.
		class DyingSaver extends StoreCheckpointSaver {
			dead = false;
			async put(...args: Parameters<StoreCheckpointSaver['put']>) {
				if (args[2].step === 4) this.dead = true;
				if (this.dead) throw new Error('process killed');
				return super.put(...args);
			}
			async putWrites(...args: Parameters<StoreCheckpointSaver['putWrites']>) {
				if (this.dead) throw new Error('process killed');
				return super.putWrites(...args);
			}
		}
		const saver = new DyingSaver(store);
		const first = new (class extends CountingSendGrid {
			async sendMail(body: MailSendBody) {
				if (saver.dead) throw new Error('process killed');
				return super.sendMail(body);
			}
		})();
		const { config, deps, runId } = setup(1000, {}, first);
		await expect(runCampaignAgent(config, deps, { runId, checkpointer: saver })).rejects.toThrow(/process killed/);
		expect(first.accepted).toHaveLength(300);
		const fresh = new CountingSendGrid();
		const resumed = await runCampaignAgent(config, { ...deps, send: { transport: fresh, store } }, { runId, checkpointer: new StoreCheckpointSaver(store), resume: true });
		expect(resumed.resumed).toBe(true);
		// Every contact is accounted for once: sent by the first run, sent after the resume, or unconfirmed
		// (the requests the dying process attempted: never re-sent blindly, confirmed by processed events).
		const c = resumed.counts;
		expect((c.sent ?? 0) + (c.unconfirmed ?? 0) + (c.already_sent ?? 0)).toBe(1000);
		expect(first.accepted.length + fresh.accepted.length + (c.unconfirmed ?? 0)).toBe(1000);
		expect(fresh.accepted.length).toBeGreaterThan(0);
		expect(new Set([...first.accepted, ...fresh.accepted]).size).toBe(first.accepted.length + fresh.accepted.length);
	});

	it('a step whose saved writes were cut off by the kill runs again on resume, and the run finishes', async () => {
		// The kill lands between two of a step's writes. Stored one by one, they would leave a step that looks
		// done but lacks the write routing to the next node: the resumed run would stop half way.
		let dead = false;
		let armed = false;
		let inserts = 0;
		const guard = (sql: string) => {
			if (dead) throw new Error('process killed');
			if (armed && /^INSERT INTO eca_checkpoint_writes/.test(sql.trim()) && ++inserts === 2) {
				dead = true;
				throw new Error('process killed');
			}
		};
		const wrap = (q: Queryable): Queryable => ({
			query: <T,>(sql: string, params?: unknown[]) => (guard(sql), q.query<T>(sql, params)),
			exec: (sql: string) => (guard(sql), q.exec(sql)),
		});
		const dying: SqlDriver = { kind: sql(store).kind, ...wrap(sql(store)), transaction: (fn) => sql(store).transaction((tx) => fn(wrap(tx))), readOnlySession: (fn, o) => sql(store).readOnlySession(fn, o), close: async () => undefined };
		let builds = 0;
		class ArmingSaver extends StoreCheckpointSaver {
			async putWrites(...args: Parameters<StoreCheckpointSaver['putWrites']>) {
				if (args[1].some(([channel]) => channel === 'cursor') && ++builds === 2) armed = true; // the second chunk's build step
				return super.putWrites(...args);
			}
		}
		const first = new (class extends CountingSendGrid {
			async sendMail(body: MailSendBody) {
				if (dead) throw new Error('process killed');
				return super.sendMail(body);
			}
		})();
		const { config, deps, runId } = setup(1000, {}, first);
		await expect(runCampaignAgent(config, deps, { runId, checkpointer: new ArmingSaver(new CampaignStore(dying)) })).rejects.toThrow(/process killed/);
		expect(dead).toBe(true);
		const fresh = new CountingSendGrid();
		const resumed = await runCampaignAgent(config, { ...deps, send: { transport: fresh, store } }, { runId, checkpointer: new StoreCheckpointSaver(store), resume: true });
		expect(resumed.resumed).toBe(true);
		expect(resumed.steps).toEqual([1]);
		const c = resumed.counts;
		expect((c.sent ?? 0) + (c.unconfirmed ?? 0)).toBe(1000);
		expect(first.accepted.length + fresh.accepted.length + (c.unconfirmed ?? 0)).toBe(1000);
		expect(new Set([...first.accepted, ...fresh.accepted]).size).toBe(first.accepted.length + fresh.accepted.length);
	});

	it('returns the finished run when asked to resume a run that completed', async () => {
		const { config, deps, runId } = setup(10);
		const checkpointer = new StoreCheckpointSaver(store);
		await runCampaignAgent(config, deps, { runId, checkpointer });
		const sg = new CountingSendGrid();
		const r = await runCampaignAgent(config, { ...deps, send: { transport: sg, store } }, { runId, checkpointer, resume: true });
		expect(r.counts.sent).toBe(10);
		expect(sg.requests).toBe(0);
	});

	it('reads the source a chunk at a time: the first request goes out before the file is read, duplicates are found across chunks, invalid rows are counted and the first 100 kept', async () => {
		const rows = 6_000;
		let made = 0;
		// A CSV arriving in pieces of 100 rows, as n8n's binary stream hands a file over: row i repeats row 10 when i = 1,000; every 50th row is broken.
		const data = {
			async *[Symbol.asyncIterator]() {
				yield 'email,first_name\n';
				for (let i = 0; i < rows; i += 100) {
					let piece = '';
					for (let j = i; j < i + 100; j++) piece += j % 50 === 49 ? `broken-${j},X\n` : `${j === 1_000 ? 'u10' : `u${j}`}@example.com,U${j}\n`;
					made += 100;
					yield piece;
				}
			},
		};
		const madeAtFirstRequest: number[] = [];
		const sg = new (class extends CountingSendGrid {
			async sendMail(body: MailSendBody) {
				if (this.requests === 0) madeAtFirstRequest.push(made);
				return super.sendMail(body);
			}
		})();
		const { config, deps, runId } = setup(0, { contacts: { kind: 'csv', data } }, sg);
		const r = await runCampaignAgent(config, deps, { runId, checkpointer: new StoreCheckpointSaver(store) });
		// One chunk is 300 contacts: the first request went out with a few chunks of the file read, not 6,000 rows.
		expect(madeAtFirstRequest[0]).toBeLessThanOrEqual(1_500);
		expect(r.total).toBe(rows - 120 - 1);
		expect(r.counts.sent).toBe(rows - 120 - 1);
		expect(new Set(sg.accepted).size).toBe(sg.accepted.length);
		expect(r.invalidCount).toBe(121);
		expect(r.invalid).toHaveLength(100);
		expect(r.invalid[0]).toMatchObject({ row: 51, email: 'broken-49' });
		expect(r.invalid).toContainEqual({ row: 1_002, email: 'u10@example.com', reason: 'duplicate of row 12' });
		expect(await store.getRun(runId)).toMatchObject({ status: 'finished', total: rows - 121 });
	});

	it('finds a duplicate far from its first row and names that row, as the whole-file load does', async () => {
		const rows = contacts(2_000);
		rows[1_900] = { ...rows[1_900], email: rows[5].email };
		const { config, deps, sg, runId } = setup(0, { contacts: { kind: 'csv', data: csvOf(rows) } });
		const r = await runCampaignAgent(config, deps, { runId });
		expect(r.invalidCount).toBe(1);
		expect(r.invalid).toEqual([{ row: 1_902, email: rows[5].email.toLowerCase(), reason: 'duplicate of row 7' }]);
		expect(sg.accepted).toHaveLength(1_999);
	});

	it('keeps contacts, payloads and results out of its checkpoints: none holds a chunk of 300 recipients', async () => {
		class Measuring extends StoreCheckpointSaver {
			largest = 0;
			override async put(...args: Parameters<StoreCheckpointSaver['put']>) {
				this.largest = Math.max(this.largest, JSON.stringify(args[1].channel_values).length);
				return super.put(...args);
			}
			override async putWrites(...args: Parameters<StoreCheckpointSaver['putWrites']>) {
				for (const [, value] of args[1]) this.largest = Math.max(this.largest, JSON.stringify(value ?? null).length);
				return super.putWrites(...args);
			}
		}
		const saver = new Measuring(store);
		const { config, deps, sg, runId } = setup(1000);
		const r = await runCampaignAgent(config, deps, { runId, checkpointer: saver });
		expect(r.counts.sent).toBe(1000);
		expect(sg.accepted).toHaveLength(1000);
		// 300 planned recipients alone are about 25 KB of JSON; the campaign, counts and cursor are a few KB.
		expect(saver.largest).toBeGreaterThan(0);
		expect(saver.largest).toBeLessThan(8_000);
	});

	it('closes its read of the source when the run stops before the end (a query cursor holds a connection until then)', async () => {
		let opened = 0;
		let closed = 0;
		const pages = async function* () {
			opened++;
			try {
				for (let p = 0; p < 10; p++) yield contacts(100).map((c, i) => ({ ...c, email: `p${p}-${i}@example.org` }));
			} finally {
				closed++;
			}
		};
		const { config, deps, runId } = setup(0, { contacts: { kind: 'pages', pages } }, new CountingSendGrid(2));
		await expect(runCampaignAgent(config, deps, { runId })).rejects.toThrow(/process killed/);
		expect(opened).toBe(1);
		expect(closed).toBe(1);
	});
});
