/** The five stages end to end against both simulators and the real Postgres store. */
import { SendGridSimulator } from '../simulators/sendgridServer';
import { OpenAISimulator } from '../simulators/openaiServer';
import { loadCampaignContent } from '../../lib/stages/loadCampaignContent';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { logCampaignResult } from '../../lib/stages/logCampaignResult';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { createChatModel } from '../../lib/llm/client';
import { CampaignStore, getCampaignStore, closeAllStores } from '../../lib/store';
import { campaignInput, csv250 } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';

jest.setTimeout(120_000);

let sg: SendGridSimulator;
let llm: OpenAISimulator;
let store: CampaignStore;
let drop: () => Promise<void>;
beforeAll(async () => {
	sg = new SendGridSimulator();
	llm = new OpenAISimulator();
	await Promise.all([sg.start(), llm.start()]);
	const db = await createTestDatabase();
	drop = db.drop;
	store = await getCampaignStore({ postgres: db.connection });
});
afterAll(async () => {
	await Promise.all([sg.stop(), llm.stop()]);
	await closeAllStores();
	await drop();
});

it('250 contacts with 5 bad rows: 245 accepted once each with the LLM subject, 5 reported, 245 rows stored', async () => {
	const loaded = await loadCampaignContent({ campaign: campaignInput({ id: 'pipe', language: 'es', variants: 2 }), contacts: { kind: 'csv', data: csv250('pipeline.example') } }, { store });
	expect(loaded.contacts).toHaveLength(245);
	expect(loaded.invalid).toHaveLength(5);
	expect(loaded.invalid.every((r) => /not a valid email/.test(r.reason))).toBe(true);

	const payloads = buildEmailPayloads(loaded.campaign, loaded.contacts, loaded.runId, { step: 1, batchSize: 100 });
	const chat = createChatModel({ apiKey: 'sk-test', baseUrl: `${llm.baseUrl}/v1`, model: 'gpt-4o-mini' });
	const copy = await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store });
	expect(copy.llmCalls).toBe(2); // one per variant, not per recipient
	expect(llm.requests[0].responseFormat?.type).toBe('json_schema');
	expect(llm.requests[0].messages[0].content).toMatch(/Write natively in Spanish/);

	const transport = createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sg.baseUrl });
	const batches = await sendEmailWithSendgrid(copy.payloads, { transport, store });
	const [summary] = await logCampaignResult(batches.flatMap((b) => b.results), { store });
	expect(summary).toMatchObject({ recipients: 245, sent: 245, failed: 0 });

	expect(sg.accepted).toHaveLength(245);
	expect(sg.duplicateRecipients()).toEqual([]);
	const subjects = new Set(copy.copies.map((c) => c.subject));
	for (const m of sg.accepted) expect(subjects.has(m.subject)).toBe(true);
	expect(sg.deliveriesTo('person1@pipeline.example')[0].html).toContain('Hola P1');
	const rows = await store.deliveries({ campaignId: 'pipe' });
	expect(rows.filter((r) => r.status === 'sent')).toHaveLength(245);

	// A re-run of the same step sends nothing and makes no LLM call.
	const again = await generateEmailCopy(buildEmailPayloads(loaded.campaign, loaded.contacts, 'run-2', { step: 1, batchSize: 100 }), { mode: 'llm' }, { chat, store });
	expect(again.llmCalls).toBe(0);
	const rerun = await sendEmailWithSendgrid(again.payloads, { transport, store });
	expect(rerun.flatMap((b) => b.results).every((r) => r.status === 'already_sent')).toBe(true);
	expect(sg.accepted).toHaveLength(245);
});
