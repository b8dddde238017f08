/** Day 1 / Day 3 / Day 7 sequences and A/B sample tests against the real store with a controlled clock. */
import { CampaignStore, getCampaignStore, closeAllStores } from '../../lib/store';
import { enrollContacts, sequenceStatus, HOLDOUT } from '../../lib/sequences/enrollments';
import { pauseCampaign, resumeSending, holdsOf } from '../../lib/guard/holds';
import { sendDueSteps } from '../../lib/sequences/runner';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import { applyInboundReply } from '../../lib/events/replyFlow';
import type { InboundReply } from '../../lib/events/reply';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import type { SendGridResponse, SendGridTransport } from '../../lib/sendgrid/client';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';
import { campaignInput, contacts } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';
import { sql } from '../helpers/sql';
import { storedDecision } from '../../lib/ab/decide';
import { campaignStats } from '../../lib/stats/campaignStats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';

jest.setTimeout(90_000);

class RecordingSendGrid implements SendGridTransport {
	sent: Array<{ email: string; step: string; variant: string; delivery_id: string; subject: string }> = [];
	async sendMail(body: MailSendBody): Promise<SendGridResponse> {
		await new Promise((r) => setTimeout(r, 5));
		for (const p of body.personalizations)
			this.sent.push({ email: p.to[0].email, step: p.custom_args.step, variant: p.custom_args.variant, delivery_id: p.custom_args.delivery_id, subject: body.subject ?? '' });
		return { status: 202, headers: { 'x-message-id': `m${this.sent.length}` }, body: '' };
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-02T14:00:00Z'); // a Monday

const sequenceCampaign = (id: string, extra = {}) =>
	parseCampaign(
		campaignInput({
			id,
			steps: [
				{ step: 1, delayHours: 0, subject: 'Day 1 {{first_name}}', text: 'one' },
				{ step: 2, delayHours: 72, subject: 'Day 3 {{first_name}}', text: 'two' },
				{ step: 3, delayHours: 168, subject: 'Day 7 {{first_name}}', text: 'three' },
			],
			...extra,
		}),
	);

describe('sequences on Postgres', () => {
	let store: CampaignStore;
	let drop: () => Promise<void>;
	beforeAll(async () => {
		const db = await createTestDatabase();
		drop = db.drop;
		store = await getCampaignStore({ postgres: db.connection });
	});
	afterAll(async () => {
		await closeAllStores();
		await drop();
	});

	const tick = (sg: SendGridTransport, now: number, campaignId: string, worker = 'w1') =>
		sendDueSteps(store, { send: { transport: sg, store }, generate: {} }, { now, worker, campaignId, copy: { mode: 'template' }, send: { backoff: { sleep: async () => undefined } } });

	it('sends each step when due, stops contacts who unsubscribe or reply, and completes the rest', async () => {
		const campaign = sequenceCampaign('seq-1');
		const sg = new RecordingSendGrid();
		expect(await enrollContacts(store, campaign, contacts(30), T0)).toEqual({ enrolled: 30, already: 0 });
		expect(await enrollContacts(store, campaign, contacts(31), T0)).toEqual({ enrolled: 1, already: 30 }); // adding to a running sequence
		await tick(sg, T0, 'seq-1');
		expect(sg.sent.filter((s) => s.step === '1')).toHaveLength(31);
		await tick(sg, T0 + DAY, 'seq-1');
		expect(sg.sent).toHaveLength(31);
		// user0 unsubscribes, user1 replies (Inbound Parse), user2 hard-bounces.
		const first = (email: string) => sg.sent.find((s) => s.email === email)!;
		await applyEvents(store, [
			normalizeEvent({ event: 'unsubscribe', email: 'user0@example.org', sg_event_id: 's-u0', delivery_id: first('user0@example.org').delivery_id, timestamp: T0 / 1000 }),
			normalizeEvent({ event: 'bounce', type: 'bounce', email: 'user2@example.org', sg_event_id: 's-b2', timestamp: T0 / 1000 }),
		]);
		const [answered] = (await sql(store).query<{ reply_message_id: string }>(`SELECT reply_message_id FROM eca_deliveries WHERE campaign_id = 'seq-1' AND step = 1 AND email = 'user1@example.org'`)).rows;
		const reply = { mode: 'parsed' as const, from: 'user1@example.org', subject: 'Re: Day 1', text: 'Interested!', messageId: '<r1@example.org>', answers: [answered.reply_message_id], headers: new Map<string, string>(), auth: { pass: true }, charsets: {}, charsetLost: [] } as unknown as InboundReply;
		expect((await applyInboundReply(store, reply)).item).toMatchObject({ ignored: false, sequences_stopped: 1 });
		await tick(sg, T0 + 3 * DAY, 'seq-1');
		expect(sg.sent.filter((s) => s.step === '2')).toHaveLength(28);
		await tick(sg, T0 + 7 * DAY, 'seq-1');
		const step3 = sg.sent.filter((s) => s.step === '3');
		expect(step3).toHaveLength(28);
		expect(step3.map((s) => s.email)).not.toContain('user0@example.org');
		const status = await sequenceStatus(store, 'seq-1');
		expect(status).toEqual(
			expect.arrayContaining([
				{ status: 'completed', next_step: null, stop_reason: '', n: 28 },
				{ status: 'stopped', next_step: null, stop_reason: 'unsubscribed', n: 1 },
				{ status: 'stopped', next_step: null, stop_reason: 'replied', n: 1 },
				{ status: 'stopped', next_step: null, stop_reason: 'hard_bounce', n: 1 },
			]),
		);
		const keys = sg.sent.map((s) => `${s.step}:${s.email}`);
		expect(new Set(keys).size).toBe(keys.length);
	});

	it('never sends a step twice when two workers run the scheduler at once', async () => {
		const campaign = sequenceCampaign('seq-2');
		await enrollContacts(store, campaign, contacts(400, 'seq2.example'), T0);
		const sg = new RecordingSendGrid();
		await Promise.all([tick(sg, T0, 'seq-2', 'worker-a'), tick(sg, T0, 'seq-2', 'worker-b'), tick(sg, T0, 'seq-2', 'worker-c')]);
		expect(sg.sent).toHaveLength(400);
		expect(new Set(sg.sent.map((s) => s.email)).size).toBe(400);
	});

	it('pauses and resumes a sequence', async () => {
		const campaign = sequenceCampaign('seq-3');
		await enrollContacts(store, campaign, contacts(5, 'seq3.example'), T0);
		await pauseCampaign(store, 'seq-3', 'jane@acme.example', 'wrong offer');
		const sg = new RecordingSendGrid();
		await tick(sg, T0, 'seq-3');
		expect(sg.sent).toHaveLength(0);
		expect((await holdsOf(store, 'seq-3')).holds).toEqual([expect.objectContaining({ scope: 'campaign:seq-3', cause: 'manual', reason: 'wrong offer', held_by: 'jane@acme.example' })]);
		expect(await resumeSending(store, { campaignId: 'seq-3' }, 'joe@acme.example')).toHaveLength(1);
		await tick(sg, T0, 'seq-3');
		expect(sg.sent).toHaveLength(5);
		const log = (await holdsOf(store, 'seq-3')).log.map((l) => [l.action, l.actor]);
		expect(log).toEqual([['resume', 'joe@acme.example'], ['pause', 'jane@acme.example']]);
	});

	it('A/B sample: tests on a sample, waits, then sends the significant winner to the rest', async () => {
		const campaign = sequenceCampaign('ab-1', {
			variants: 2,
			abTest: { mode: 'sample', samplePercent: 40, waitHours: 4, metric: 'unique_click_rate', confidence: 0.95, fallback: 'keep_waiting', maxWaitHours: 24 },
		});
		campaign.steps[0].variantCopy = { B: { subject: 'Variant B {{first_name}}' } };
		const enrolled = await enrollContacts(store, campaign, contacts(2000, 'ab1.example'), T0);
		// Said at enrollment already, before anything is sent: ~400 per variant (40 % sample of 2,000, two variants).
		expect(enrolled.ab_power).toMatchObject({ ok: false, rule: 'sequential', metric: 'unique_click_rate' });
		expect(enrolled.ab_power!.recipients_per_variant).toBeGreaterThan(330);
		expect(enrolled.ab_power!.recipients_per_variant).toBeLessThan(470);
		expect(enrolled.ab_power!.warning).toMatch(/underpowered A\/B test/);
		const sg = new RecordingSendGrid();
		const [first] = await tick(sg, T0, 'ab-1');
		// Before the test: ~400 per variant cannot see a 20 % lift on a 3 % click rate; it says so and how many it would need.
		expect(first.ab_power).toMatchObject({ ok: false, rule: 'sequential', metric: 'unique_click_rate', base_rate: 0.03 });
		expect(first.ab_power!.warning).toMatch(/underpowered A\/B test: \d+ recipients per variant .* about \d+ recipients per variant are needed/);
		const sample = sg.sent.filter((s) => s.step === '1');
		expect(sample.length).toBeGreaterThan(700);
		expect(sample.length).toBeLessThan(900);
		expect(new Set(sample.map((s) => s.variant))).toEqual(new Set(['A', 'B']));
		// B's readers click twice as often.
		const clicks = sample
			.filter((s, i) => (s.variant === 'B' ? i % 5 === 0 : i % 10 === 0))
			.map((s, i) => normalizeEvent({ event: 'click', email: s.email, delivery_id: s.delivery_id, sg_event_id: `c-${i}`, url: 'https://acme.example/sale', timestamp: T0 / 1000 + 60 }));
		await applyEvents(store, clicks);
		const [summary] = await tick(sg, T0 + 4 * 3_600_000 + 1000, 'ab-1');
		expect(summary.ab).toMatchObject({ decided: true, winner: 'B', send: 'B' });
		expect(summary.ab!.pValue).toBeLessThan(0.05);
		// What the marketer reads: lift and its always-valid interval, the evidence, the detectable lift, the power warning.
		const ev = summary.ab!.evidence!;
		expect(ev).toMatchObject({ rule: 'sequential', leader: 'B', runner_up: 'A' });
		expect(ev.lift!).toBeGreaterThan(0.5);
		expect(ev.lift_ci![0]).toBeGreaterThan(0);
		expect(ev.lift_ci![0]).toBeLessThan(ev.lift!);
		expect(ev.p_value).toBe(summary.ab!.pValue);
		expect(ev.mde).toEqual(expect.any(Number));
		expect(summary.ab!.summary).toMatch(/B vs A: lift \+\d+(\.\d)?% \(95% CI .*always-valid p = /);
		expect(summary.ab!.warnings!.join(' ')).toMatch(/underpowered/);
		expect((await storedDecision(store, 'ab-1', 1))!.evidence).toMatchObject({ lift: ev.lift, lift_ci: ev.lift_ci, looks: 1 });
		const html = renderDashboard(await campaignStats(store, { campaignId: 'ab-1' }));
		expect(html).toContain('<th>Lift (CI)</th>');
		expect(html).toContain('always-valid (sequential)');
		expect(html).toMatch(/B vs A: \+\d/);
		const rest = sg.sent.slice(sample.length).filter((s) => s.step === '1');
		expect(rest.length + sample.length).toBe(2000);
		expect(new Set(rest.map((s) => s.subject))).toEqual(new Set(['Variant B {{first_name}}']));
		const held = await sql(store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_enrollments WHERE campaign_id = 'ab-1' AND variant = $1`, [HOLDOUT]);
		expect(held.rows[0].n).toBe(0);
	});

	it('A/B sample without a significant winner keeps waiting, then sends the leader and says so', async () => {
		const campaign = sequenceCampaign('ab-2', {
			variants: 2,
			abTest: { mode: 'sample', samplePercent: 50, waitHours: 4, metric: 'unique_click_rate', confidence: 0.95, fallback: 'keep_waiting', maxWaitHours: 8 },
		});
		await enrollContacts(store, campaign, contacts(200, 'ab2.example'), T0);
		const sg = new RecordingSendGrid();
		await tick(sg, T0, 'ab-2');
		const sampled = sg.sent.length;
		const [waiting] = await tick(sg, T0 + 4 * 3_600_000 + 1000, 'ab-2');
		expect(waiting.ab).toMatchObject({ decided: false });
		expect(waiting.ab!.send).toBeUndefined();
		expect(waiting.ab!.evidence!.expected.message).toMatch(/no conversions yet/);
		expect(waiting.waiting_for_winner).toBe(200 - sampled);
		expect(sg.sent).toHaveLength(sampled);
		const [late] = await tick(sg, T0 + 9 * 3_600_000, 'ab-2');
		expect(late.ab!.reason).toMatch(/fallback: sending the leading variant/);
		expect(sg.sent).toHaveLength(200);
		// Every re-check was a look of the same sequential test.
		expect(late.ab!.evidence!.looks).toBe(2);
	});

	it('A/B on opens says open-rate tests are unreliable; the fixed-horizon rule stays selectable for one planned look', async () => {
		const campaign = sequenceCampaign('ab-3', {
			variants: 2,
			abTest: { mode: 'sample', samplePercent: 50, waitHours: 4, metric: 'unique_open_rate', decisionRule: 'fixed_horizon', fallback: 'send_leader' },
		});
		expect(campaign.abTest!.decisionRule).toBe('fixed_horizon');
		expect(sequenceCampaign('ab-x', { variants: 2, abTest: { mode: 'sample' } }).abTest!.decisionRule).toBe('sequential');
		await enrollContacts(store, campaign, contacts(100, 'ab3.example'), T0);
		const sg = new RecordingSendGrid();
		const [first] = await tick(sg, T0, 'ab-3');
		expect(first.ab_power!.caveat).toMatch(/Apple Mail Privacy Protection/);
		expect(first.ab_power!.base_rate).toBe(0.2);
		const [decision] = await tick(sg, T0 + 4 * 3_600_000 + 1000, 'ab-3');
		expect(decision.ab!.evidence!.rule).toBe('fixed_horizon');
		expect(decision.ab!.send).toBeDefined();
		expect(decision.ab!.warnings!.join(' ')).toMatch(/Apple Mail Privacy Protection/);
		expect(decision.ab!.summary).toMatch(/Apple Mail Privacy Protection/);
		expect(sg.sent).toHaveLength(100);
	});
});
