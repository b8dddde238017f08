/** The SendGrid Trigger's event path with a stand-in n8n context: a malformed event never costs the post, every field reaches the items. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IWebhookFunctions, INodeProperties } from 'n8n-workflow';
import { SendGridTrigger } from '../../nodes/SendGridTrigger/SendGridTrigger.node';
import { EVENT_TYPES } from '../../lib/events/normalize';
import { closeAllStores, getCampaignStore } from '../../lib/store';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { sql } from '../helpers/sql';

jest.setTimeout(60_000);
const dir = mkdtempSync(join(tmpdir(), 'eca-events-trigger-'));
process.env.EMAIL_CAMPAIGN_STORE_DIR = dir;
afterAll(() => closeAllStores());

const sim = new SendGridSimulator();
function post(events: unknown[], options: Record<string, unknown> = {}) {
	const raw = Buffer.from(JSON.stringify(events));
	const s = sim.signPayload(raw);
	const res = { code: 200, body: undefined as unknown, status(c: number) { this.code = c; return this; }, json(b: unknown) { this.body = b; return this; } };
	const params: Record<string, unknown> = { registration: 'manual', publicKey: sim.publicKey, events: [...EVENT_TYPES], output: 'event', options };
	const ctx = {
		getRequestObject: () => ({ rawBody: raw }),
		getResponseObject: () => res,
		getNodeParameter: (name: string, fallback?: unknown) => params[name] ?? fallback,
		getWebhookName: () => 'default',
		getWorkflowStaticData: () => ({}),
		getHeaderData: () => ({ 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': s.timestamp }),
		getNode: () => ({ name: 'SendGrid Trigger', credentials: {} }),
	} as unknown as IWebhookFunctions;
	return new SendGridTrigger().webhook.call(ctx).then((r) => ({ items: (r.workflowData?.[0] ?? []).map((i) => i.json), res }));
}

const now = Math.floor(Date.now() / 1000);
const malformed = [
	{ email: 'a@x.io', event: 'delivered', sg_event_id: 't-ms', sg_message_id: 'M.filter-1', timestamp: now * 1000 },
	{ email: 'b@x.io', event: 'delivered', sg_event_id: 't-huge', sg_message_id: 'M.filter-2', timestamp: 1e300 },
	{ email: 'c@x.io', event: 'delivered', sg_event_id: 't-obj', sg_message_id: 'M.filter-3', timestamp: { when: 'now' } },
	{ event: 'open', sg_event_id: 't-noemail', sg_message_id: 'M.filter-4', timestamp: now },
	{ email: 'e@x.io', event: 'click', sg_event_id: 't-ok', sg_message_id: 'M.filter-5', timestamp: now, url: 'https://x.io', ip: '192.0.2.1', useragent: 'UA', url_offset: { index: 0, type: 'html' }, order_id: 'PO-1' },
];

describe.each([
	['store off', { updateStore: false }],
	['embedded store', {}],
])('a post with malformed events (%s)', (_what, options) => {
	it('is answered 200 and every event comes out, each problem noted, every field kept', async () => {
		const { items, res } = await post(malformed, options);
		expect(res.code).toBe(200);
		expect(items.map((i) => i.sg_event_id)).toEqual(['t-ms', 't-huge', 't-obj', 't-noemail', 't-ok']);
		expect(items[0]).toMatchObject({ timestamp: new Date(now * 1000).toISOString(), problems: ['timestamp: in milliseconds, read as such'] });
		expect(items[1].problems).toEqual(['timestamp: out of range, the time received is used']);
		expect(items[3].problems).toEqual(['email: missing']);
		expect(items[4]).toMatchObject({ ip: '192.0.2.1', useragent: 'UA', url_offset: { index: 0, type: 'html' }, extra: { order_id: 'PO-1' } });
		expect(items[4].problems).toBeUndefined();
	});
});

it('the embedded store keeps them once: the same post with new sg_event_ids outputs nothing', async () => {
	const { items } = await post(malformed.map((e) => ({ ...e, sg_event_id: `${e.sg_event_id}-again` })));
	// The events whose time was made up on arrival cannot be recognised by time: only their sg_event_id tells.
	expect(items.map((i) => i.sg_event_id)).toEqual(['t-huge-again', 't-obj-again']);
	const store = await getCampaignStore({ embeddedDir: dir });
	expect((await sql(store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE sg_event_id LIKE 't-%'`)).rows[0].n).toBe(7);
});

it('says in the node that with the store off nothing is de-duplicated', () => {
	const props = new SendGridTrigger().description.properties;
	const options = props.find((p) => p.name === 'options')!.options as INodeProperties[];
	expect(options.find((o) => o.name === 'updateStore')!.description).toMatch(/Off: no de-duplication at all/);
	expect(props.find((p) => p.type === 'notice')?.displayName).toMatch(/with it off, no de-duplication happens/);
});
