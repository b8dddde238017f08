/** Events applied to the store: once per sg_event_id, out of order, async bounces, suppressions, sequences. */
import { CampaignStore, getCampaignStore, closeAllStores } from '../../lib/store';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import { replyEvent } from '../../lib/events/inbound';
import { createTestDatabase } from '../helpers/services';

jest.setTimeout(60_000);

const backends = [
	{ name: 'postgres', open: async () => { const db = await createTestDatabase(); return { store: await getCampaignStore({ postgres: db.connection }), drop: db.drop }; } },
	{ name: 'pglite', open: async () => ({ store: await getCampaignStore({ inMemory: true }), drop: async () => undefined }) },
];

const ev = (o: Record<string, unknown>) => normalizeEvent({ timestamp: 1700000000, campaign_id: 'c', run_id: 'r', step: 1, variant: 'A', ...o });

describe.each(backends)('events into the $name store', ({ open }) => {
	let store: CampaignStore;
	let drop: () => Promise<void>;
	beforeAll(async () => {
		({ store, drop } = await open());
		const emails = ['a@x.io', 'b@x.io', 'c@x.io'];
		const { claimed } = await store.claimDeliveries('c', 'r', 1, emails.map((email, i) => ({ email, delivery_id: `d${i}`, variant: 'A' })));
		await store.markSent(claimed.filter((c) => c.email !== 'b@x.io').map((c) => c.id), 'MSG1', 202);
		// b@x.io stays claimed: its sender crashed before the 202 came back.
		await store.db.query(`INSERT INTO eca_enrollments (campaign_id, email, next_step, next_send_at) VALUES ('c', 'a@x.io', 2, now()), ('c', 'c@x.io', 2, now())`);
	});
	afterAll(async () => {
		await closeAllStores();
		await drop();
	});

	it('stores each event once: a replayed batch changes nothing', async () => {
		const batch = [
			ev({ event: 'open', email: 'a@x.io', sg_event_id: 'o1', delivery_id: 'd0', timestamp: 1700000100 }),
			ev({ event: 'delivered', email: 'a@x.io', sg_event_id: 'dl1', delivery_id: 'd0', timestamp: 1700000050 }),
			ev({ event: 'open', email: 'a@x.io', sg_event_id: 'o2', delivery_id: 'd0', timestamp: 1700000200, sg_machine_open: true }),
		];
		const first = await applyEvents(store, batch);
		expect(first).toMatchObject({ received: 3, inserted: 3, duplicates: 0 });
		const replay = await applyEvents(store, batch);
		expect(replay).toMatchObject({ inserted: 0, duplicates: 3, fresh: [] });
		const [row] = await store.deliveries({ campaignId: 'c' }).then((r) => r.filter((x) => x.email === 'a@x.io'));
		expect(row.open_count).toBe(1); // the machine open is stored but not counted
		expect(new Date(row.delivered_at as string).getTime()).toBe(1700000050_000);
		expect(new Date(row.opened_at as string).getTime()).toBe(1700000100_000);
	});

	it('confirms an unconfirmed delivery from its processed event', async () => {
		await applyEvents(store, [ev({ event: 'processed', email: 'b@x.io', sg_event_id: 'p-b', delivery_id: 'd1', sg_message_id: 'MSG2.filter-b' })]);
		const row = (await store.deliveries({ campaignId: 'c' })).find((x) => x.email === 'b@x.io')!;
		expect(row).toMatchObject({ status: 'sent', message_id: 'MSG2', sg_message_id: 'MSG2.filter-b' });
	});

	it('matches an async bounce without custom args through the message id, suppresses and stops the sequence', async () => {
		const bounce = normalizeEvent({ event: 'bounce', email: 'c@x.io', sg_event_id: 'bn1', sg_message_id: 'MSG1.filter-c', type: 'bounce', reason: '550', timestamp: 1700000300 });
		const r = await applyEvents(store, [bounce]);
		expect(r.matched).toBe(1);
		expect(r.suppressionsAdded).toBe(1);
		expect(r.sequencesStopped).toBe(1);
		const row = (await store.deliveries({ campaignId: 'c' })).find((x) => x.email === 'c@x.io')!;
		expect(row.bounce_type).toBe('bounce');
		const stored = await store.db.query<{ campaign_id: string; delivery_id: string }>(`SELECT campaign_id, delivery_id FROM eca_events WHERE sg_event_id = 'bn1'`);
		expect(stored.rows[0]).toEqual({ campaign_id: 'c', delivery_id: 'd2' });
		const en = await store.db.query<{ status: string; stop_reason: string }>(`SELECT status, stop_reason FROM eca_enrollments WHERE email = 'c@x.io'`);
		expect(en.rows[0]).toEqual({ status: 'stopped', stop_reason: 'hard_bounce' });
	});

	it('unsubscribe suppresses for later sends; group events add and lift the group scope', async () => {
		await applyEvents(store, [ev({ event: 'unsubscribe', email: 'a@x.io', sg_event_id: 'u1', delivery_id: 'd0' })]);
		expect((await store.suppressedAmong(['a@x.io'])).get('a@x.io')).toBe('unsubscribe');
		await applyEvents(store, [ev({ event: 'group_unsubscribe', email: 'z@x.io', sg_event_id: 'g1', asm_group_id: 9 })]);
		expect((await store.suppressedAmong(['z@x.io'], 9)).size).toBe(1);
		await applyEvents(store, [ev({ event: 'group_resubscribe', email: 'z@x.io', sg_event_id: 'g2', asm_group_id: 9 })]);
		expect((await store.suppressedAmong(['z@x.io'], 9)).size).toBe(0);
	});

	it('a reply stops the sequence and suppresses the sender', async () => {
		await store.db.query(`INSERT INTO eca_enrollments (campaign_id, email, next_step) VALUES ('c2', 'r@x.io', 2)`);
		const reply = replyEvent({ from: 'R <r@x.io>', subject: 'Re: offer', headers: 'Message-ID: <x@y>' })!;
		await applyEvents(store, [reply]);
		expect((await store.suppressedAmong(['r@x.io'])).get('r@x.io')).toBe('replied');
		const en = await store.db.query<{ stop_reason: string }>(`SELECT stop_reason FROM eca_enrollments WHERE email = 'r@x.io'`);
		expect(en.rows[0].stop_reason).toBe('replied');
	});
	it('stores events carrying NUL bytes or broken UTF-16 instead of failing the whole batch', async () => {
		// Postgres text/jsonb refuse both; a refused batch would be answered 5xx and retried by SendGrid for 24 h.
		const emoji = '\u{1F600}';
		const batch = [
			ev({ event: 'click', email: 'a@x.io', sg_event_id: 'nul1', delivery_id: 'd0', url: 'https://x.io/\u0000a', category: ['pro\u0000mo'] }),
			ev({ event: 'dropped', email: 'q@x.io', sg_event_id: 'sur1', reason: 'Bounced Address \ud800 lone', category: 'x\udfff' }),
			ev({ event: 'open', email: 'a@x.io', sg_event_id: 'ok1', delivery_id: 'd0' }),
		];
		const r = await applyEvents(store, batch);
		expect(r).toMatchObject({ inserted: 3, duplicates: 0 });
		const rows = await store.db.query<{ sg_event_id: string; payload: Record<string, unknown> }>(
			`SELECT sg_event_id, payload FROM eca_events WHERE sg_event_id IN ('nul1', 'sur1', 'ok1') ORDER BY sg_event_id`,
		);
		expect(rows.rows.map((x) => x.sg_event_id)).toEqual(['nul1', 'ok1', 'sur1']);
		expect(rows.rows[0].payload).toMatchObject({ url: 'https://x.io/a', category: ['promo'] });
		expect(rows.rows[2].payload).toMatchObject({ reason: 'Bounced Address \ufffd lone', category: ['x\ufffd'] });
		expect((await store.suppressedAmong(['q@x.io'])).get('q@x.io')).toBe('dropped');
		// A reply whose subject was cut in the middle of an emoji is stored too.
		const reply = replyEvent({ from: 's@x.io', subject: 'x'.repeat(199) + emoji, headers: 'Message-ID: <cut@y>' })!;
		expect((await applyEvents(store, [reply])).inserted).toBe(1);
	});
});
