/**
 * Each contact in their language and hour (issue 17) in a real n8n 2.x: the stage pipeline template
 * with a 3-language, 4-time-zone contact list, AI copy from the OpenAI simulator and Build Email
 * Payload's Local Send Time. LLM calls = languages × variants, every SendGrid request holds one
 * language, and every recipient's send_at is 09:00 on their own clock.
 */
import { livePipeline, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { wallClock } from '../../lib/sequences/schedule';
import type { AcceptedMessage } from '../simulators/sendgridServer';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
/** As people type them: the node normalises case and underscores. */
const LANGUAGES: Array<{ tag: string; spellings: string[]; greeting: string }> = [
	{ tag: 'en', spellings: ['en', 'EN'], greeting: 'Hi ' },
	{ tag: 'de', spellings: ['de', 'DE'], greeting: 'Hallo ' },
	{ tag: 'es', spellings: ['es', 'Es'], greeting: 'Hola ' },
];

type Expected = Map<string, { language: string; zone: string; greeting: string }>;

/** 3 languages × 4 zones × 2 spellings = 24 contacts, as CSV with these column names, and what each should get. */
function contactList(domain: string, columns = { language: 'language', timezone: 'timezone' }): { csv: string; expected: Expected } {
	const expected: Expected = new Map();
	const rows = [`email,first_name,${columns.language},${columns.timezone}`];
	for (const l of LANGUAGES)
		ZONES.forEach((zone, z) =>
			l.spellings.forEach((spelling, k) => {
				const email = `${l.tag}-${z}-${k}@${domain}`;
				expected.set(email, { language: l.tag, zone, greeting: l.greeting });
				rows.push(`${email},P${expected.size},${spelling},${zone}`);
			}),
		);
	return { csv: rows.join('\n'), expected };
}

/** Every request one language, one variant, one send_at; every recipient greeted in their language at 09:00:00 on their clock. */
function expectLanguagesAndHours(accepted: AcceptedMessage[], expected: Expected, startedAt: number) {
	const byRequest = new Map<number, AcceptedMessage[]>();
	for (const m of accepted) byRequest.set(m.requestIndex, [...(byRequest.get(m.requestIndex) ?? []), m]);
	for (const messages of byRequest.values()) {
		expect(new Set(messages.map((m) => expected.get(m.to)!.language)).size).toBe(1);
		expect(new Set(messages.map((m) => m.sendAt)).size).toBe(1);
		expect(new Set(messages.map((m) => m.customArgs.variant)).size).toBe(1);
	}
	for (const m of accepted) {
		const want = expected.get(m.to)!;
		expect(m.html).toContain(want.greeting);
		// 09:00:00 on the recipient's clock, the first one after the run started.
		expect(wallClock(m.sendAt! * 1000, want.zone)).toMatchObject({ hour: 9, minute: 0, second: 0 });
		expect(m.sendAt! * 1000).toBeGreaterThanOrEqual(Math.floor(startedAt / 60_000) * 60_000);
		expect(m.sendAt! * 1000).toBeLessThan(startedAt + 86_400_000);
	}
}

it('3 languages × 4 time zones × 2 variants through the pipeline: 6 LLM calls, one language per request, send_at = 09:00 in each zone', async () => {
	const { n8n, r, q } = e2e;
	const { csv, expected } = contactList('audience.example');
	const wf = livePipeline('e2eAudienceLang1', 'pipeline languages and hours', 'e2e-audience', csv);
	const load = node(wf, 'Load Campaign Content');
	load.parameters.campaignOptions = { ...(load.parameters.campaignOptions as Record<string, unknown>), variants: 2 };
	node(wf, 'Build Email Payload').parameters.options = { localSendTime: '09:00' };
	node(wf, 'Generate Email Copy').parameters.copySource = 'llm';
	const { id } = await n8n.importWorkflow(wf, r.creds);
	const startedAt = Date.now();
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();

	// The Audience output: per-language counts, nobody left for later (no send window: the next 09:00 is within a day).
	const [requests, audience] = out.nodes['Build Email Payload'];
	expect(audience).toEqual([expect.objectContaining({ recipients: 24, languages: { de: 8, en: 8, es: 8 }, language_invalid: 0, timezone_unknown: 0, timezone_missing: 0, local_send_time: '09:00', left_for_later: 0 })]);
	for (const p of requests as Array<{ language: string; send_at: number; recipients: Array<{ email: string }> }>)
		for (const rcpt of p.recipients) expect(expected.get(rcpt.email)!.language).toBe(p.language);

	// LLM calls = languages × variants, never per recipient.
	expect(r.llm.calls).toBe(LANGUAGES.length * 2);
	const copies = out.nodes['Generate Email Copy'][0] as Array<{ copy_stats?: { llm_calls: number } }>;
	expect(copies.length).toBe(requests.length);

	expect(r.sg.accepted).toHaveLength(24);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expectLanguagesAndHours(r.sg.accepted, expected, startedAt);
	// Each claim stored its own request's send_at.
	const stored = await q<{ email: string; send_at: Date; status: string }>(`SELECT email, send_at, status FROM eca_deliveries WHERE campaign_id = 'e2e-audience'`);
	expect(stored).toHaveLength(24);
	const sendAtOf = new Map(r.sg.accepted.map((m) => [m.to, m.sendAt]));
	for (const row of stored) {
		expect(row.status).toBe('sent');
		expect(Math.round(row.send_at.getTime() / 1000)).toBe(sendAtOf.get(row.email));
	}
	expect(out.nodes['Log Campaign Result'][0][0]).toMatchObject({ recipients: 24, sent: 24 });
});

it('the Campaign Agent in real n8n: Language and Local Time options with columns of other names, the audience in its summary', async () => {
	const { n8n, r } = e2e;
	const { csv, expected } = contactList('agent-audience.example', { language: 'lang', timezone: 'zone' });
	const wf = setContacts({ ...template('campaign-agent.json'), id: 'e2eAudienceAgnt1', name: 'agent languages and hours' }, csv);
	const agent = withUnsubscribe(node(wf, 'Campaign Agent'));
	Object.assign(agent.parameters, {
		campaignId: 'e2e-audience-agent',
		dryRun: false,
		copySource: 'llm',
		batchSize: 5,
		audienceOptions: { languageField: 'lang', timeZoneField: 'zone', localSendTime: '09:00' },
	});
	agent.parameters.campaignOptions = { ...(agent.parameters.campaignOptions as Record<string, unknown>), variants: 2 };
	const { id } = await n8n.importWorkflow(wf, r.creds);
	r.sg.reset();
	const callsBefore = r.llm.calls;
	const startedAt = Date.now();
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	const summary = out.nodes['Campaign Agent'][0][0];
	expect(summary).toMatchObject({ contacts: 24, sent: 24, llm_calls: 6, left_for_later: 0, audience: { recipients: 24, languages: { de: 8, en: 8, es: 8 }, language_invalid: 0, timezone_unknown: 0, local_send_time: '09:00' } });
	expect(r.llm.calls - callsBefore).toBe(6);
	expect(r.sg.accepted).toHaveLength(24);
	expectLanguagesAndHours(r.sg.accepted, expected, startedAt);
});
