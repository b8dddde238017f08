/**
 * The delivery state machine (lib/delivery) and the store agree: every pair of states is walked for
 * every cause of a change, on the real Postgres server and on embedded PGlite. The allowed moves are
 * written out here by hand, so a change to the table is a change to this test too.
 */
import { CampaignStore, getCampaignStore, closeAllStores } from '../../lib/store';
import { CLAIMABLE, DELIVERY_STATES, DeliveryState, DeliveryTransitionError, FINAL, TRANSITIONS, TransitionCause, canTransition } from '../../lib/delivery/states';
import { applyEvents } from '../../lib/store/events';
import { cancelRunDeliveries, uncancelRunDeliveries } from '../../lib/store/scheduled';
import { normalizeEvent } from '../../lib/events/normalize';
import { logCampaignResult } from '../../lib/stages/logCampaignResult';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import type { RateLimiter } from '../../lib/sendgrid/rateLimiter';
import { SendGridApiError, SendGridResponse, SendGridTransport } from '../../lib/sendgrid/client';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';
import { createTestDatabase } from '../helpers/services';
import { campaignStats } from '../../lib/stats/campaignStats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';
import type { DeliveryResult } from '../../lib/schemas';
import { campaignInput, contacts } from '../helpers/fixtures';
import { sql } from '../helpers/sql';

jest.setTimeout(120_000);

/** Allowed moves, by cause, written out independently of lib/delivery. */
const EXPECTED: Record<TransitionCause, Array<[DeliveryState, DeliveryState]>> = {
	claim: [
		['retry', 'claimed'],
		['deferred', 'claimed'],
		['suppressed', 'claimed'],
		['cancelled', 'claimed'],
	],
	reclaim: [
		['claimed', 'claimed'],
		['unconfirmed', 'claimed'],
	],
	outcome: [
		['claimed', 'sent'],
		['claimed', 'unconfirmed'],
		['claimed', 'retry'],
		['claimed', 'failed'],
		['claimed', 'deferred'],
		['claimed', 'suppressed'],
		['unconfirmed', 'sent'],
		['unconfirmed', 'retry'],
		['unconfirmed', 'failed'],
		['unconfirmed', 'deferred'],
		['unconfirmed', 'suppressed'],
	],
	orphan: [['claimed', 'unconfirmed']],
	event: [
		['claimed', 'sent'],
		['unconfirmed', 'sent'],
	],
	cancel: [
		['sent', 'cancelled'],
		['unconfirmed', 'cancelled'],
		['claimed', 'cancelled'],
	],
	uncancel: [
		['cancelled', 'sent'],
		['cancelled', 'unconfirmed'],
	],
};
const CAUSES = Object.keys(EXPECTED) as TransitionCause[];
const allowed = (cause: TransitionCause, from: DeliveryState, to: DeliveryState) => EXPECTED[cause].some(([f, t]) => f === from && t === to);

describe('the transition table', () => {
	it('allows exactly the moves listed, for every pair of states and every cause', () => {
		for (const cause of CAUSES)
			for (const from of DELIVERY_STATES) for (const to of DELIVERY_STATES) expect([cause, from, to, canTransition(from, to, cause)]).toEqual([cause, from, to, allowed(cause, from, to)]);
		expect(TRANSITIONS).toHaveLength(CAUSES.reduce((n, c) => n + EXPECTED[c].length, 0));
		// failed is final: nothing leaves it; sent leaves only when its scheduled send is cancelled.
		for (const to of DELIVERY_STATES) for (const cause of CAUSES) expect(canTransition('failed', to, cause)).toBe(false);
		for (const to of DELIVERY_STATES) for (const cause of CAUSES) expect([to, cause, canTransition('sent', to, cause)]).toEqual([to, cause, to === 'cancelled' && cause === 'cancel']);
		// Never sent again on their own: sent (unless a user cancels its scheduled run) and failed; a cancelled row may be claimed again.
		expect([FINAL, CLAIMABLE]).toEqual([['sent', 'failed'], ['retry', 'deferred', 'suppressed', 'cancelled']]);
	});
});

type Backend = { name: string; open: () => Promise<{ store: CampaignStore; cleanup: () => Promise<void> }> };
const backends: Backend[] = [
	{
		name: 'postgres',
		open: async () => {
			const db = await createTestDatabase('eca_states');
			const store = await getCampaignStore({ postgres: db.connection });
			return { store, cleanup: async () => (await closeAllStores(), await db.drop()) };
		},
	},
	{ name: 'pglite', open: async () => ({ store: await getCampaignStore({ inMemory: true }), cleanup: () => closeAllStores() }) },
];

describe.each(backends)('the store follows the table on $name', ({ open }) => {
	let store: CampaignStore;
	let cleanup: () => Promise<void>;
	beforeAll(async () => ({ store, cleanup } = await open()));
	afterAll(() => cleanup());

	let n = 0;
	/** A fresh row in `state`, claimed by run 'owner'; returns its campaign, address and id. */
	async function rowIn(state: DeliveryState) {
		const campaign = `walk-${++n}`;
		const email = `p${n}@x.io`;
		const { claimed } = await store.claimDeliveries(campaign, 'owner', 1, [{ email, delivery_id: `d-${n}`, variant: 'A' }]);
		const id = claimed[0].id;
		// cancelled is reached only by cancelling the run's scheduled send (lib/store/scheduled.ts), from sent.
		const reported = state === 'cancelled' ? 'sent' : state;
		if (reported !== 'claimed') await store.recordOutcome({ runId: 'owner', ids: [id], status: reported, message_id: reported === 'sent' ? `X${n}` : undefined });
		if (state === 'cancelled') await cancelRunDeliveries(store, 'owner', 'cancelled in the walk');
		// Old enough for any resend grace.
		await sql(store).query(`UPDATE eca_deliveries SET claimed_at = now() - interval '1 hour' WHERE id = $1`, [id]);
		return { campaign, email, id };
	}
	const statusOf = async (id: string) => (await sql(store).query<{ status: string; run_id: string }>('SELECT status, run_id FROM eca_deliveries WHERE id = $1', [id])).rows[0];

	it('outcomes: the owning run moves a row only where the table allows; another run never', async () => {
		for (const from of DELIVERY_STATES)
			for (const to of DELIVERY_STATES) {
				const { id } = await rowIn(from);
				const err = await store.recordOutcome({ runId: 'owner', ids: [id], status: to }).then(
					() => undefined,
					(e: unknown) => e,
				);
				const now = await statusOf(id);
				if (allowed('outcome', from, to)) expect([from, to, now.status, err]).toEqual([from, to, to, undefined]);
				else {
					expect([from, to, now.status]).toEqual([from, to, from]);
					// Asking for the state it is already in is not a refusal; anything else is reported.
					if (from !== to) expect(err).toBeInstanceOf(DeliveryTransitionError);
				}
				const { id: other } = await rowIn(from);
				const stranger = await store.recordOutcome({ runId: 'someone-else', ids: [other], status: to }).then(
					() => undefined,
					(e: unknown) => e,
				);
				expect([from, to, (await statusOf(other)).status]).toEqual([from, to, from]);
				expect(stranger).toBeInstanceOf(DeliveryTransitionError);
			}
	});

	it('claims and reclaims: only claimable states, and unconfirmed or stale claims only with a resend grace', async () => {
		for (const from of DELIVERY_STATES) {
			const a = await rowIn(from);
			const plain = await store.claimDeliveries(a.campaign, 'next', 1, [{ email: a.email, delivery_id: 'x', variant: 'A' }]);
			const after = await statusOf(a.id);
			if (allowed('claim', from, 'claimed')) expect([from, plain.claimed.length, after]).toEqual([from, 1, { status: 'claimed', run_id: 'next' }]);
			else {
				expect([from, plain.claimed.length]).toEqual([from, 0]);
				// A claim left behind by another run is reported unconfirmed (the orphan move); other states stay.
				expect([from, after.status]).toEqual([from, allowed('orphan', from, 'unconfirmed') ? 'unconfirmed' : from]);
			}
			const b = await rowIn(from);
			const re = await store.claimDeliveries(b.campaign, 'next', 1, [{ email: b.email, delivery_id: 'x', variant: 'A' }], { reclaimUnconfirmedAfterSeconds: 60 });
			expect([from, re.claimed.length]).toEqual([from, allowed('claim', from, 'claimed') || allowed('reclaim', from, 'claimed') ? 1 : 0]);
		}
	});

	it('cancelling and uncancelling a run moves only the rows the table allows, and only that run\'s', async () => {
		for (const from of DELIVERY_STATES) {
			const { id } = await rowIn(from);
			const { id: other } = await rowIn(from);
			await sql(store).query(`UPDATE eca_deliveries SET run_id = 'another' WHERE id = $1`, [other]);
			await cancelRunDeliveries(store, 'owner', 'walk');
			expect([from, (await statusOf(id)).status, (await statusOf(other)).status]).toEqual([from, allowed('cancel', from, 'cancelled') ? 'cancelled' : from, from]);
			await uncancelRunDeliveries(store, 'owner');
			// Back to sent when it had been sent; a claim in flight or unanswered when cancelled comes back unconfirmed (processed confirms it).
			const back = ({ sent: 'sent', cancelled: 'sent', claimed: 'unconfirmed', unconfirmed: 'unconfirmed' } as Record<string, string>)[from] ?? from;
			expect([from, (await statusOf(id)).status]).toEqual([from, back]);
			// Leave nothing of this run for the next pair.
			await sql(store).query(`UPDATE eca_deliveries SET run_id = 'walked' WHERE id = ANY($1::bigint[])`, [[id, other]]);
		}
	});

	it("SendGrid's processed event confirms only a claimed or unconfirmed row", async () => {
		for (const from of DELIVERY_STATES) {
			const { campaign, email, id } = await rowIn(from);
			const row = (await sql(store).query<{ delivery_id: string }>('SELECT delivery_id FROM eca_deliveries WHERE id = $1', [id])).rows[0];
			await applyEvents(store, [
				normalizeEvent({ event: 'processed', email, sg_event_id: `walk-ev-${id}`, sg_message_id: `SGM${id}.filter`, campaign_id: campaign, run_id: 'owner', step: '1', variant: 'A', delivery_id: row.delivery_id, timestamp: Math.floor(Date.now() / 1000) }),
			]);
			expect([from, (await statusOf(id)).status]).toEqual([from, allowed('event', from, 'sent') ? 'sent' : from]);
		}
	});

	it('a stale log of an older run never undoes a newer run\'s claim (it would let a third run send again)', async () => {
		const email = 'stale@x.io';
		const first = await store.claimDeliveries('stale', 'run-1', 1, [{ email, delivery_id: 'ds', variant: 'A' }]);
		await store.recordOutcome({ runId: 'run-1', ids: [first.claimed[0].id], status: 'retry', error: '503' });
		const second = await store.claimDeliveries('stale', 'run-2', 1, [{ email, delivery_id: 'ds', variant: 'A' }]);
		expect(second.claimed).toHaveLength(1);
		// Log Campaign Result of run 1 arrives late, carrying its retry.
		const [summary] = await logCampaignResult([{ delivery_id: 'ds', campaign_id: 'stale', run_id: 'run-1', step: 1, variant: 'A', email, status: 'retry', attempts: 1, error: '503' }], { store });
		expect(await statusOf(first.claimed[0].id)).toEqual({ status: 'claimed', run_id: 'run-2' });
		expect(summary.not_written).toBe(1);
		expect(summary.errors.map((e) => e.error)).toContainEqual(expect.stringMatching(/the store has it claimed in run run-2/));
		const third = await store.claimDeliveries('stale', 'run-3', 1, [{ email, delivery_id: 'ds', variant: 'A' }]);
		expect(third.claimed).toHaveLength(0);
	});

	it('a scheduled send is never reclaimed before its send_at plus the grace', async () => {
		const later = Math.floor(Date.now() / 1000) + 3600;
		const c = await store.claimDeliveries('sched', 'run-1', 1, [{ email: 'later@x.io', delivery_id: 'dl', variant: 'A' }], { sendAt: later });
		await store.recordOutcome({ runId: 'run-1', ids: [c.claimed[0].id], status: 'unconfirmed' });
		await sql(store).query(`UPDATE eca_deliveries SET claimed_at = now() - interval '2 hours' WHERE id = $1`, [c.claimed[0].id]);
		const again = await store.claimDeliveries('sched', 'run-2', 1, [{ email: 'later@x.io', delivery_id: 'dl', variant: 'A' }], { reclaimUnconfirmedAfterSeconds: 60 });
		expect(again.claimed).toHaveLength(0);
		// Once send_at and the grace have passed without a processed event, it may go again.
		await sql(store).query(`UPDATE eca_deliveries SET send_at = now() - interval '2 minutes' WHERE id = $1`, [c.claimed[0].id]);
		const late = await store.claimDeliveries('sched', 'run-3', 1, [{ email: 'later@x.io', delivery_id: 'dl', variant: 'A' }], { reclaimUnconfirmedAfterSeconds: 60 });
		expect(late.claimed).toHaveLength(1);
	});

	it('suppressions are checked inside the claim: a suppressed address is never claimed', async () => {
		await store.addSuppressions([{ email: 'gone@x.io', scope: 'global', reason: 'unsubscribe' }, { email: 'grp@x.io', scope: 'group:7', reason: 'group_unsubscribe' }]);
		const rows = ['gone@x.io', 'grp@x.io', 'here@x.io'].map((email, i) => ({ email, delivery_id: `g${i}`, variant: 'A' }));
		const c = await store.claimDeliveries('supp', 'run-1', 1, rows, { groupId: 7 });
		expect(c.claimed.map((x) => x.email)).toEqual(['here@x.io']);
		expect([...c.suppressed.keys()].sort()).toEqual(['gone@x.io', 'grp@x.io']);
		const other = await store.claimDeliveries('supp2', 'run-1', 1, rows, { groupId: 8 });
		expect(other.claimed.map((x) => x.email).sort()).toEqual(['grp@x.io', 'here@x.io']);
	});

	/** A transport that records what it accepted, or refuses every recipient by name (a 400 per personalization). */
	class Transport implements SendGridTransport {
		accepted: string[] = [];
		constructor(private refuseAll = false) {}
		async sendMail(body: MailSendBody): Promise<SendGridResponse> {
			if (this.refuseAll)
				throw new SendGridApiError('SendGrid mail send failed (400)', 400, body.personalizations.map((_p, i) => ({ field: `personalizations.${i}.to.0.email`, message: 'Does not contain a valid address.' })), {});
			this.accepted.push(...body.personalizations.map((p) => p.to[0].email));
			return { status: 202, headers: { 'x-message-id': `m${this.accepted.length}` }, body: '' };
		}
		async request(): Promise<SendGridResponse> {
			return { status: 200, headers: {}, body: {} };
		}
	}
	const payloads = (id: string, n: number, runId: string, batchSize = 100) => buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(n, `${id}.example`), runId, { step: 1, batchSize });

	it('an unsubscribe that lands while a batch waits for the rate limiter is not sent', async () => {
		let release!: () => void;
		const gate = new Promise<void>((r) => (release = r));
		let waiting = 0;
		const limiter: RateLimiter = {
			acquire: async () => {
				waiting++;
				await gate;
			},
			pauseUntil: () => undefined,
			setLimits: () => undefined,
		};
		const sg = new Transport();
		const run = sendEmailWithSendgrid(payloads('wait', 10, 'run-wait', 5), { transport: sg, store, limiter }, { concurrency: 1 });
		while (waiting === 0) await new Promise((r) => setTimeout(r, 5));
		// Claimed and waiting: now the contact unsubscribes.
		await store.addSuppressions([{ email: 'user3@wait.example', scope: 'global', reason: 'unsubscribe' }]);
		release();
		const out = (await run).flatMap((b) => b.results);
		expect(sg.accepted).not.toContain('user3@wait.example');
		expect(sg.accepted).toHaveLength(9);
		expect(out.find((r) => r.email === 'user3@wait.example')!.status).toBe('suppressed');
		const rows = await store.deliveries({ campaignId: 'wait' });
		expect(rows.find((r) => r.email === 'user3@wait.example')!.status).toBe('suppressed');
	});

	it('a run that stops on an error ends failed with it (never running for ever); finishing it later clears it', async () => {
		class Refusing implements SendGridTransport {
			async sendMail(): Promise<SendGridResponse> {
				throw new SendGridApiError('SendGrid mail send failed (400)', 400, [{ field: 'from', message: 'The from address does not match a verified Sender Identity.' }], {});
			}
			async request(): Promise<SendGridResponse> {
				return { status: 200, headers: {}, body: {} };
			}
		}
		await expect(sendEmailWithSendgrid(payloads('runfail', 20, 'run-fail'), { transport: new Refusing(), store })).rejects.toThrow(/verified Sender Identity/);
		const run = await store.getRun('run-fail');
		expect(run).toMatchObject({ status: 'failed', error: expect.stringMatching(/from: The from address/) });
		expect(run!.finished_at).not.toBeNull();
		await store.failRun('run-fail', new Error('worker lost'), 'interrupted');
		expect(await store.getRun('run-fail')).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/worker lost/) });
		await store.refreshRun('run-fail', { finished: true });
		expect(await store.getRun('run-fail')).toMatchObject({ status: 'finished', error: null });
	});

	it('the dashboard counts drops apart from bounces and shows a failed run with its error', async () => {
		const sg = new Transport();
		const out = (await sendEmailWithSendgrid(payloads('dropstats', 3, 'run-drops'), { transport: sg, store })).flatMap((b) => b.results);
		const ev = (r: DeliveryResult, event: string, extra: Record<string, unknown>) =>
			normalizeEvent({ event, email: r.email, sg_event_id: `${event}-${r.email}`, sg_message_id: `${r.message_id}.f`, campaign_id: 'dropstats', run_id: 'run-drops', step: '1', variant: r.variant, delivery_id: r.delivery_id, timestamp: Math.floor(Date.now() / 1000), ...extra });
		await applyEvents(store, [ev(out[0], 'dropped', { reason: 'Unsubscribed Address' }), ev(out[1], 'bounce', { type: 'bounce', reason: '550 5.1.1 no such user' })]);
		const stats = await campaignStats(store, { campaignId: 'dropstats' });
		expect(stats.steps.map((x) => ({ sent: x.sent, bounced: x.bounced, dropped: x.dropped }))).toEqual([{ sent: 3, bounced: 1, dropped: 1 }]);
		await store.failRun('run-drops', new Error('SendGrid refused the whole request (400): from: The from address does not match a verified Sender Identity.'));
		const html = renderDashboard(await campaignStats(store, { campaignId: 'dropstats' }));
		expect(html).toMatch(/failed<br><small>[^<]*verified Sender Identity/);
	});

	it('past the daily cap, the first recipients in the order given go out today (not the first in address order)', async () => {
		const account = `acct-order-${Date.now()}`;
		const rows = ['zed@x.io', 'yan@x.io', 'amy@x.io', 'bob@x.io'].map((email, i) => ({ email, delivery_id: `o${i}`, variant: 'A' }));
		const c = await store.claimDeliveries('order', 'run-o', 1, rows, { dailyCap: { account, cap: 2, day: '2026-11-25' } });
		expect(c.claimed.map((x) => x.email).sort()).toEqual(['yan@x.io', 'zed@x.io']);
		expect(c.deferred.map((x) => x.email).sort()).toEqual(['amy@x.io', 'bob@x.io']);
	});

	it('the daily quota reserved by refused recipients is given back: the next campaign is not deferred', async () => {
		const cap = { dailyCap: 100, account: `acct-${Date.now()}` };
		const refused = (await sendEmailWithSendgrid(payloads('quota-a', 100, 'run-qa'), { transport: new Transport(true), store }, cap)).flatMap((b) => b.results);
		expect(refused.every((r) => r.status === 'failed')).toBe(true);
		const day = new Date().toISOString().slice(0, 10);
		expect(await store.dailyQuotaUsed(cap.account, day)).toBe(0);
		const sg = new Transport();
		const next = (await sendEmailWithSendgrid(payloads('quota-b', 100, 'run-qb'), { transport: sg, store }, cap)).flatMap((b) => b.results);
		expect(next.filter((r) => r.status === 'sent')).toHaveLength(100);
		expect(await store.dailyQuotaUsed(cap.account, day)).toBe(100);
		// Past the cap: deferred in the claim itself, and a deferred row holds no quota.
		const over = (await sendEmailWithSendgrid(payloads('quota-c', 10, 'run-qc'), { transport: sg, store }, cap)).flatMap((b) => b.results);
		expect(over.every((r) => r.status === 'deferred')).toBe(true);
		expect((await store.deliveries({ campaignId: 'quota-c' })).every((r) => r.status === 'deferred')).toBe(true);
	});
});
