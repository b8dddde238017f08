/**
 * Each contact in their language and hour (issue 17) through the SendGrid and OpenAI simulators and the
 * real Postgres store: copy once per (step, variant, language), one language and one send instant per
 * request, send_at = 09:00 in each recipient's zone (stored in the claim), recipients beyond 72 h left
 * unclaimed for a later run; the Campaign Agent and the sequence runner read the language field too.
 */
import { OpenAISimulator } from '../simulators/openaiServer';
import type { AcceptedMessage } from '../simulators/sendgridServer';
import { planEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { createChatModel } from '../../lib/llm/client';
import { runCampaignAgent } from '../../lib/agent/graph';
import { enrollContacts } from '../../lib/sequences/enrollments';
import { sendDueSteps } from '../../lib/sequences/runner';
import { wallClock } from '../../lib/sequences/schedule';
import type { Contact } from '../../lib/schemas';
import { campaignInput } from '../helpers/fixtures';
import { useSimulatorAndStore } from '../helpers/simulatorStore';

jest.setTimeout(120_000);

const env = useSimulatorAndStore();
const llm = new OpenAISimulator();
beforeAll(() => llm.start());
afterAll(() => llm.stop());
beforeEach(() => env.sim.reset());

const transport = () => createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: env.sim.baseUrl, timeoutMs: 5000 });
const chat = () => createChatModel({ apiKey: 'sk-test', baseUrl: `${llm.baseUrl}/v1`, model: 'gpt-4o-mini' });
const fast = { backoff: { sleep: async () => undefined } };

const LANGUAGES = { en: 'Hi ', de: 'Hallo ', es: 'Hola ' } as const;
const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'];
/** 3 languages (written as people type them) × 4 time zones × 3 contacts, plus one invalid language and one unknown zone. */
function people(domain: string): Array<Contact & { expectLanguage: string; expectZone: string }> {
	const spelled: Record<string, string[]> = { en: ['EN', 'en', 'En'], de: ['de', 'DE', 'de'], es: ['es', 'ES', 'es'] };
	const out: Array<Contact & { expectLanguage: string; expectZone: string }> = [];
	for (const [language, spellings] of Object.entries(spelled))
		ZONES.forEach((zone, z) =>
			spellings.forEach((value, k) =>
				out.push({ email: `${language}-${z}-${k}@${domain}`, first_name: `P${out.length}`, language: value, timezone: zone, expectLanguage: language, expectZone: zone }),
			),
		);
	out.push({ email: `klingon@${domain}`, first_name: 'K', language: "tlh-Piq'ad!", timezone: 'Asia/Tokyo', expectLanguage: 'en', expectZone: 'Asia/Tokyo' });
	out.push({ email: `mars@${domain}`, first_name: 'M', language: 'de', timezone: 'Mars/Olympus_Mons', expectLanguage: 'de', expectZone: 'UTC' });
	return out;
}
const contactsOf = (list: ReturnType<typeof people>): Contact[] => list.map(({ expectLanguage: _l, expectZone: _z, ...c }) => c);

/** The requests SendGrid accepted, each with its messages. */
function requestsOf(accepted: AcceptedMessage[]): AcceptedMessage[][] {
	const by = new Map<number, AcceptedMessage[]>();
	for (const m of accepted) by.set(m.requestIndex, [...(by.get(m.requestIndex) ?? []), m]);
	return [...by.values()];
}

/** 09:00:00 on the recipient's clock, the first one at or after the build (so within a day: no send window). */
function expectNineLocal(sendAt: number, zone: string, builtAt: number) {
	expect(wallClock(sendAt * 1000, zone)).toMatchObject({ hour: 9, minute: 0, second: 0 });
	expect(sendAt * 1000).toBeGreaterThanOrEqual(Math.floor(builtAt / 60_000) * 60_000);
	expect(sendAt * 1000).toBeLessThan(builtAt + 86_400_000);
}

it('3 languages × 2 variants × 4 time zones: 6 LLM calls, each request one language and one send_at, 09:00 local for everyone, send_at in each claim; a re-run sends nothing and calls nothing', async () => {
	const { sim, store } = env;
	const id = 'aud-pipeline';
	const list = people(`${id}.example`);
	const campaign = parseCampaign(campaignInput({ id, language: 'en', variants: 2, timezone: 'UTC' }));
	const builtAt = Date.now();
	const { payloads, audience } = planEmailPayloads(campaign, contactsOf(list), 'run-aud-1', { step: 1, localSendTime: '09:00' });
	expect(audience).toMatchObject({ recipients: 38, languages: { en: 13, de: 13, es: 12 }, language_invalid: 1, language_invalid_values: ["tlh-Piq'ad!"], timezone_unknown: 1, timezone_missing: 0, left_for_later: 0 });

	const before = llm.requests.length;
	const copy = await generateEmailCopy(payloads, { mode: 'llm' }, { chat: chat(), store });
	expect(copy.llmCalls).toBe(6);
	const prompts = llm.requests.slice(before).map((r) => /language code "([^"]+)"/.exec(r.messages[0].content)?.[1]);
	expect(prompts.sort()).toEqual(['de', 'de', 'en', 'en', 'es', 'es']);
	expect(llm.requests.slice(before).some((r) => /Write natively in German/.test(r.messages[0].content))).toBe(true);

	const batches = await sendEmailWithSendgrid(copy.payloads, { transport: transport(), store }, fast);
	expect(batches.flatMap((b) => b.results).every((r) => r.status === 'sent')).toBe(true);
	expect(sim.accepted).toHaveLength(38);
	expect(sim.duplicateRecipients()).toEqual([]);

	const expected = new Map(list.map((c) => [c.email, c]));
	const requests = requestsOf(sim.accepted);
	for (const messages of requests) {
		const languages = new Set(messages.map((m) => expected.get(m.to)!.expectLanguage));
		expect(languages.size).toBe(1);
		expect(new Set(messages.map((m) => m.sendAt)).size).toBe(1);
		expect(new Set(messages.map((m) => m.customArgs.variant)).size).toBe(1);
		const greeting = LANGUAGES[[...languages][0] as keyof typeof LANGUAGES];
		for (const m of messages) expect(m.html).toContain(greeting);
	}
	// Variants × languages × the send instants (Berlin, New York, Tokyo, Sydney, UTC for the unknown zone) that occur.
	expect(requests.length).toBe(new Set(sim.accepted.map((m) => `${m.customArgs.variant}/${expected.get(m.to)!.expectLanguage}/${m.sendAt}`)).size);
	for (const m of sim.accepted) expectNineLocal(m.sendAt!, expected.get(m.to)!.expectZone, builtAt);

	// Each claim holds its own request's send_at, not one value for the run.
	const rows = await store.deliveries({ campaignId: id });
	expect(rows).toHaveLength(38);
	const sendAtOf = new Map(sim.accepted.map((m) => [m.to, m.sendAt]));
	for (const r of rows) expect(Math.round((r.send_at as Date).getTime() / 1000)).toBe(sendAtOf.get(String(r.email)));
	expect(new Set(rows.map((r) => (r.send_at as Date).getTime())).size).toBe(new Set(sim.accepted.map((m) => m.sendAt)).size);
	// ... and its copy's language, which the dashboard counts per step, variant and language.
	for (const r of rows) expect(r.language).toBe(expected.get(String(r.email))!.expectLanguage);

	const again = planEmailPayloads(campaign, contactsOf(list), 'run-aud-2', { step: 1, localSendTime: '09:00' });
	const copyAgain = await generateEmailCopy(again.payloads, { mode: 'llm' }, { chat: chat(), store });
	expect(copyAgain.llmCalls).toBe(0);
	const rerun = await sendEmailWithSendgrid(copyAgain.payloads, { transport: transport(), store }, fast);
	expect(rerun.flatMap((b) => b.results).every((r) => r.status === 'already_sent')).toBe(true);
	expect(sim.accepted).toHaveLength(38);
});

it('recipients whose next window day is beyond 72 h are not claimed; the run that comes within reach sends them once', async () => {
	const { sim, store } = env;
	const id = 'aud-later';
	const list: Contact[] = ZONES.map((timezone, i) => ({ email: `c${i}@${id}.example`, first_name: `C${i}`, timezone }));
	// One send day, five days from now (UTC): every zone's next 09:00 on it is at least 3 days 19 hours away.
	const farDay = new Date(Date.now() + 5 * 86_400_000).getUTCDay();
	const far = parseCampaign(campaignInput({ id, sendWindow: { days: [farDay], startHour: 8, endHour: 18 } }));
	const first = planEmailPayloads(far, list, 'run-later-1', { step: 1, localSendTime: '09:00' });
	expect(first.payloads).toEqual([]);
	expect(first.audience).toMatchObject({ recipients: 0, left_for_later: 4, send_at: {} });
	expect(Date.parse(first.audience.left_for_later_from!) - Date.now()).toBeGreaterThan(72 * 3_600_000);
	expect(await sendEmailWithSendgrid(first.payloads, { transport: transport(), store }, fast)).toEqual([]);
	expect(await store.deliveries({ campaignId: id })).toEqual([]);
	expect(sim.requests.filter((r) => r.path === '/v3/mail/send')).toHaveLength(0);

	// Days later the same campaign's day is within reach (here: a window of every day).
	const near = parseCampaign(campaignInput({ id, sendWindow: { days: [0, 1, 2, 3, 4, 5, 6], startHour: 8, endHour: 18 } }));
	const builtAt = Date.now();
	const second = planEmailPayloads(near, list, 'run-later-2', { step: 1, localSendTime: '09:00' });
	expect(second.audience).toMatchObject({ recipients: 4, left_for_later: 0 });
	const batches = await sendEmailWithSendgrid(second.payloads, { transport: transport(), store }, fast);
	expect(batches.flatMap((b) => b.results).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
	expect(sim.accepted).toHaveLength(4);
	for (const m of sim.accepted) expectNineLocal(m.sendAt!, list.find((c) => c.email === m.to)!.timezone, builtAt);
});

it('the Campaign Agent: per-contact language and Local Send Time through the graph, the audience in its result', async () => {
	const { sim, store } = env;
	const id = 'aud-agent';
	const list = people(`${id}.example`);
	const before = llm.requests.length;
	const builtAt = Date.now();
	const result = await runCampaignAgent(
		{
			campaign: campaignInput({ id, variants: 2, timezone: 'America/Chicago' }),
			contacts: { kind: 'rows', rows: contactsOf(list) },
			batchSize: 5,
			chunkSize: 10,
			copy: { mode: 'llm' },
			sendOptions: fast,
			audience: { localSendTime: '09:00', defaultTimeZone: 'UTC' },
		},
		{ store, send: { transport: transport(), store }, generate: { chat: chat(), store } },
		{ runId: 'run-aud-agent' },
	);
	expect(result.counts).toMatchObject({ sent: 38 });
	expect(result.audience).toMatchObject({ recipients: 38, languages: { en: 13, de: 13, es: 12 }, language_invalid: 1, timezone_unknown: 1, left_for_later: 0 });
	// Chunks of 10 contacts do not multiply the calls: the copy cache serves every later chunk.
	expect(llm.requests.length - before).toBe(6);
	expect(result.llm.calls).toBe(6);
	const expected = new Map(list.map((c) => [c.email, c]));
	for (const messages of requestsOf(sim.accepted)) {
		expect(messages.length).toBeLessThanOrEqual(5);
		expect(new Set(messages.map((m) => expected.get(m.to)!.expectLanguage)).size).toBe(1);
		expect(new Set(messages.map((m) => m.sendAt)).size).toBe(1);
	}
	// Default Time Zone (UTC) over the campaign's Chicago for the unknown zone.
	for (const m of sim.accepted) expectNineLocal(m.sendAt!, expected.get(m.to)!.expectZone, builtAt);
});

it('the sequence runner writes each enrolled contact in their language, one language per request', async () => {
	const { sim, store } = env;
	const id = 'aud-sequence';
	const campaign = parseCampaign(campaignInput({ id, variants: 1, steps: [{ step: 1, delayHours: 0 }] }));
	const list: Contact[] = ['de', 'es', 'pt_BR', 'en', 'de', 'nonsense!'].map((language, i) => ({ email: `s${i}@${id}.example`, first_name: `S${i}`, language }));
	const now = Date.now();
	await enrollContacts(store, campaign, list, now - 60_000);
	const before = llm.requests.length;
	const [summary] = await sendDueSteps(store, { send: { transport: transport(), store }, generate: { chat: chat(), store } }, { now, campaignId: id, copy: { mode: 'llm' }, send: fast });
	expect(summary.counts).toEqual({ sent: 6 });
	const languages = llm.requests.slice(before).map((r) => /language code "([^"]+)"/.exec(r.messages[0].content)?.[1]);
	expect(languages.sort()).toEqual(['de', 'en', 'es', 'pt-BR']);
	const requests = requestsOf(sim.accepted);
	expect(requests.map((r) => r.map((m) => m.to).sort())).toEqual(
		expect.arrayContaining([[`s0@${id}.example`, `s4@${id}.example`], [`s1@${id}.example`], [`s2@${id}.example`], [`s3@${id}.example`, `s5@${id}.example`]]),
	);
	expect(requests).toHaveLength(4);
	expect(sim.deliveriesTo(`s2@${id}.example`)[0].html).toContain('Olá S2');
	expect(sim.deliveriesTo(`s0@${id}.example`)[0].html).toContain('Hallo S0');
});

it('a follow-up step in pt-BR builds on the step cached as pt-br before tags were normalised (language tags are case-insensitive)', async () => {
	const { store } = env;
	const copy = { subject: 'Seu novo favorito', preheader: '', html: '<p>Olá</p>', text: 'Olá, primeiro passo', source: 'llm' };
	await store.putCachedCopy({ key: 'aud-case-1', campaignId: 'aud-case', step: 1, variant: 'A', language: 'pt-br', tone: 'friendly', copy, promptTokens: 1, completionTokens: 1 });
	expect(await store.previousStepCopies('aud-case', 2, 'A', 'pt-BR', 'friendly')).toEqual([{ step: 1, subject: 'Seu novo favorito', summary: 'Olá, primeiro passo' }]);
	expect(await store.previousStepCopies('aud-case', 2, 'A', 'pt-PT', 'friendly')).toEqual([]);
});
