/**
 * bench:llm — a 10,000-contact, 3-step, 2-variant campaign: LLM calls per variant and step (target 6),
 * a re-run (target 0), and the per-contact approach for comparison (one call per contact per step),
 * measured on a slice against the same OpenAI-compatible simulator and scaled. The per-language case:
 * the same contacts in 5 languages (a `language` field per contact) → one call per (step, variant,
 * language): 30, and 0 on a re-run; each request holds one language.
 */
import { OpenAISimulator } from '../test/simulators/openaiServer';
import { createChatModel } from '../lib/llm/client';
import { generateEmailCopy } from '../lib/stages/generateEmailCopy';
import { buildEmailPayloads } from '../lib/stages/buildEmailPayload';
import { parseCampaign } from '../lib/stages/loadCampaignContent';
import { getCampaignStore, closeAllStores } from '../lib/store';
import { DEFAULT_STEPS } from '../lib/schemas';
import { normalizeLanguage } from '../lib/llm/language';
import { campaignInput, contacts } from '../test/helpers/fixtures';
import { report } from './common';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 10_000);
const SLICE = Number(process.env.BENCH_BASELINE_CONTACTS ?? 100);

async function main() {
	const sim = new OpenAISimulator();
	await sim.start();
	const store = await getCampaignStore({ inMemory: true });
	const chat = createChatModel({ apiKey: 'sk-test', baseUrl: `${sim.baseUrl}/v1`, model: 'gpt-4o-mini' });
	const campaign = parseCampaign(campaignInput({ id: 'bench-llm', variants: 2, steps: DEFAULT_STEPS }));
	const list = contacts(CONTACTS, 'llm.bench');
	let calls = 0;
	let tokens = 0;
	for (const step of campaign.steps) {
		const r = await generateEmailCopy(buildEmailPayloads(campaign, list, 'run-1', { step: step.step }), { mode: 'llm' }, { chat, store });
		calls += r.llmCalls;
		tokens += r.usage.prompt_tokens + r.usage.completion_tokens;
	}
	let rerun = 0;
	for (const step of campaign.steps) rerun += (await generateEmailCopy(buildEmailPayloads(campaign, list, 'run-2', { step: step.step }), { mode: 'llm' }, { chat, store })).llmCalls;

	// Per language: the same contacts, each with a language field (spelled as lists do: pt_BR is pt-BR).
	const spoken = ['en', 'de', 'es', 'fr', 'pt_BR'];
	const multilingual = parseCampaign(campaignInput({ id: 'bench-llm-languages', variants: 2, steps: DEFAULT_STEPS }));
	const polyglots = list.map((c, i) => ({ ...c, language: spoken[i % spoken.length] }));
	const perLanguage = async (runId: string) => {
		let n = 0;
		let requests = 0;
		let mixed = 0;
		for (const step of multilingual.steps) {
			const payloads = buildEmailPayloads(multilingual, polyglots, runId, { step: step.step });
			requests += payloads.length;
			mixed += payloads.filter((p) => p.recipients.some((r) => normalizeLanguage(r.fields.language) !== p.language)).length;
			n += (await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store })).llmCalls;
		}
		return { calls: n, requests, mixed };
	};
	const languages = await perLanguage('run-lang-1');
	const languagesRerun = await perLanguage('run-lang-2');
	if (languages.mixed > 0) throw new Error(`${languages.mixed} requests mixed languages`);

	// The per-contact approach: one call per contact and step (Loop Over Items + an LLM node), on a slice.
	const before = sim.calls;
	const slice = buildEmailPayloads(campaign, list.slice(0, SLICE), 'run-3', { step: 1 });
	const per = await generateEmailCopy(slice, { mode: 'llm', personalize: { fields: ['first_name'], concurrency: 8, requestsPerMinute: 1_000_000 } }, { chat });
	const perContactCalls = sim.calls - before;
	const tokensPerCall = (per.usage.prompt_tokens + per.usage.completion_tokens) / Math.max(1, perContactCalls);
	const baselineCalls = CONTACTS * campaign.steps.length;
	console.log(`per variant and step: ${calls} calls, ${tokens} tokens; re-run: ${rerun} calls`);
	console.log(`per variant, step and language (${spoken.length} languages): ${languages.calls} calls in ${languages.requests} requests of one language each; re-run: ${languagesRerun.calls} calls`);
	console.log(`per contact: ${perContactCalls} calls for ${SLICE} contacts (1 per contact) → ${baselineCalls} calls, ~${Math.round(tokensPerCall * baselineCalls)} tokens for ${CONTACTS} contacts × ${campaign.steps.length} steps`);
	await sim.stop();
	await closeAllStores();
	if (perContactCalls !== SLICE) throw new Error(`per-contact slice made ${perContactCalls} calls for ${SLICE} contacts`);
	report({
		bench: 'llm',
		contacts: CONTACTS,
		llm_calls: calls,
		rerun_llm_calls: rerun,
		baseline_llm_calls: baselineCalls,
		ratio: Math.round((baselineCalls / Math.max(1, calls)) * 10) / 10,
		tokens,
		baseline_tokens: Math.round(tokensPerCall * baselineCalls),
		// The same 10,000 contacts in 5 languages; the baseline (one call per contact and step) is the one above.
		languages: spoken.length,
		languages_llm_calls: languages.calls,
		languages_rerun_llm_calls: languagesRerun.calls,
		languages_requests: languages.requests,
		languages_ratio: Math.round((baselineCalls / Math.max(1, languages.calls)) * 10) / 10,
	});
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
