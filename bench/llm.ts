/**
 * bench:llm — a 10,000-contact, 3-step, 2-variant campaign: LLM calls per variant and step (target 6),
 * a re-run (target 0), and the per-contact approach for comparison (one call per contact per step),
 * measured on a slice against the same OpenAI-compatible simulator and scaled.
 */
import { OpenAISimulator } from '../test/simulators/openaiServer';
import { createChatModel } from '../lib/llm/client';
import { generateEmailCopy } from '../lib/stages/generateEmailCopy';
import { buildEmailPayloads } from '../lib/stages/buildEmailPayload';
import { parseCampaign } from '../lib/stages/loadCampaignContent';
import { getCampaignStore, closeAllStores } from '../lib/store';
import { DEFAULT_STEPS } from '../lib/schemas';
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

	// The per-contact approach: one call per contact and step (Loop Over Items + an LLM node), on a slice.
	const before = sim.calls;
	const slice = buildEmailPayloads(campaign, list.slice(0, SLICE), 'run-3', { step: 1 });
	const per = await generateEmailCopy(slice, { mode: 'llm', personalize: { fields: ['first_name'], concurrency: 8, requestsPerMinute: 1_000_000 } }, { chat });
	const perContactCalls = sim.calls - before;
	const tokensPerCall = (per.usage.prompt_tokens + per.usage.completion_tokens) / Math.max(1, perContactCalls);
	const baselineCalls = CONTACTS * campaign.steps.length;
	console.log(`per variant and step: ${calls} calls, ${tokens} tokens; re-run: ${rerun} calls`);
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
	});
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
