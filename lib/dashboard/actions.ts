/**
 * What the dashboard's buttons do. Each action names its fields, checks them, says in one sentence
 * what it is about to do (the confirmation page) and then does it through the same lib functions as
 * the nodes (Campaign Sequence's Pause/Resume, Pick A/B Winner...). The router only runs an action
 * for a verified, allowed actor with a valid CSRF token and a confirmation, and audits the outcome.
 */
import { pickWinnerByHand } from '../ab/decide';
import { createApiKey, revokeApiKey } from '../api/apiKeys';
import { CampaignError } from '../errors';
import { pauseCampaign, resumeSending } from '../guard/holds';
import { CampaignInputError, campaignId as campaignIdSchema, isValidEmail } from '../schemas';
import type { CampaignStore } from '../store';
import { cancelSequence, requestResume } from '../store/audit';

export interface ActionContext {
	store: CampaignStore;
	actor: string;
	/** Pause, cancel or resume a run's scheduled send at SendGrid (needs the node's SendGrid credential). */
	scheduled?: (op: 'pause' | 'cancel' | 'resume', runId: string, actor: string) => Promise<string>;
}

export interface ActionSpec {
	label: string;
	/** Whether undoing it is possible (the confirmation page says so). */
	undo: string;
	/** The fields it takes, checked: throws a CampaignInputError naming the field. */
	parse(body: Record<string, unknown>): Record<string, string>;
	/** The campaign it concerns (audit, back link). */
	campaignOf(params: Record<string, string>): string | null;
	describe(params: Record<string, string>): string;
	/** What happened, for the page and the audit log; `reveal` (a new API key) goes on the page only, never in the log. */
	run(ctx: ActionContext, params: Record<string, string>): Promise<string | { message: string; reveal: string }>;
}

const text = (body: Record<string, unknown>, name: string, max = 200): string => {
	const v = body[name];
	const s = typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
	if (!s) throw new CampaignInputError(`${name} is missing`, name);
	if (s.length > max) throw new CampaignInputError(`${name} is longer than ${max} characters`, name);
	return s;
};
const campaignField = (body: Record<string, unknown>) => {
	const r = campaignIdSchema.safeParse(text(body, 'campaign', 100));
	if (!r.success) throw new CampaignInputError(`campaign ${r.error.issues[0].message}`, 'campaign');
	return r.data;
};
const runField = (body: Record<string, unknown>) => {
	const run = text(body, 'run', 100);
	if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(run)) throw new CampaignInputError('run is not a run id', 'run');
	return run;
};

async function campaignOrFail(store: CampaignStore, id: string) {
	const c = await store.getCampaign(id);
	if (!c) throw new CampaignInputError(`No campaign "${id}" in the campaign store`, 'campaign');
	return c;
}

const scheduled = (op: 'pause' | 'cancel' | 'resume', label: string, undo: string): ActionSpec => ({
	label,
	undo,
	parse: (b) => ({ campaign: campaignField(b), run: runField(b) }),
	campaignOf: (p) => p.campaign,
	describe: (p) => `${label} of run ${p.run} (campaign ${p.campaign}) at SendGrid. SendGrid takes this only until 10 minutes before the send time.`,
	run: async (ctx, p) => {
		if (!ctx.scheduled) throw new CampaignError('Scheduled sends need a SendGrid credential on the Campaign Dashboard node', { field: 'Credential to connect with' });
		return ctx.scheduled(op, p.run, ctx.actor);
	},
});

export const ACTIONS: Record<string, ActionSpec> = {
	pause_campaign: {
		label: 'Pause campaign',
		undo: 'Resume undoes it.',
		parse: (b) => ({ campaign: campaignField(b), reason: typeof b.reason === 'string' && b.reason.trim() ? b.reason.trim().slice(0, 300) : 'paused from the dashboard' }),
		campaignOf: (p) => p.campaign,
		describe: (p) => `Pause every send of campaign ${p.campaign} (sequences, the Campaign Agent, the stage nodes, every worker) at its next claim. Reason: ${p.reason}.`,
		run: async (ctx, p) => {
			await campaignOrFail(ctx.store, p.campaign);
			const { already } = await pauseCampaign(ctx.store, p.campaign, ctx.actor, p.reason);
			return already ? `Campaign ${p.campaign} was already paused.` : `Campaign ${p.campaign} is paused.`;
		},
	},
	resume_campaign: {
		label: 'Resume campaign',
		undo: 'Pause undoes it.',
		parse: (b) => ({ campaign: campaignField(b) }),
		campaignOf: (p) => p.campaign,
		describe: (p) => `Lift the pause of campaign ${p.campaign} (a user's or the reputation guard's); the next run sends the rest.`,
		run: async (ctx, p) => {
			const lifted = await resumeSending(ctx.store, { campaignId: p.campaign }, ctx.actor);
			return lifted.length ? `Campaign ${p.campaign} is resumed.` : `Campaign ${p.campaign} was not paused.`;
		},
	},
	cancel_sequence: {
		label: 'Cancel sequence',
		undo: 'It cannot be undone: enrol the contacts again to restart them.',
		parse: (b) => ({ campaign: campaignField(b) }),
		campaignOf: (p) => p.campaign,
		describe: (p) => `Stop every contact still active in the sequence of campaign ${p.campaign}: no later step is sent to them.`,
		run: async (ctx, p) => {
			await campaignOrFail(ctx.store, p.campaign);
			const n = await cancelSequence(ctx.store, p.campaign, ctx.actor);
			return `${n} contact${n === 1 ? '' : 's'} stopped in campaign ${p.campaign}.`;
		},
	},
	pick_winner: {
		label: 'Pick A/B winner',
		undo: 'Pick another variant to change it; contacts already sent keep what they got.',
		parse: (b) => {
			const step = text(b, 'step', 3);
			if (!/^\d{1,2}$/.test(step) || Number(step) < 1) throw new CampaignInputError('step must be a step number', 'step');
			const variant = text(b, 'variant', 20);
			if (!/^[A-Z]$/.test(variant)) throw new CampaignInputError('variant must be a variant letter (A to E)', 'variant');
			return { campaign: campaignField(b), step, variant };
		},
		campaignOf: (p) => p.campaign,
		describe: (p) => `Send variant ${p.variant} to the rest of step ${p.step} of campaign ${p.campaign}, whatever the test says.`,
		run: async (ctx, p) => {
			const c = await campaignOrFail(ctx.store, p.campaign);
			const d = await pickWinnerByHand(ctx.store, c, Number(p.step), p.variant, ctx.actor);
			return `Step ${p.step} of campaign ${p.campaign} now sends variant ${d.send} to the rest of its list.`;
		},
	},
	lift_suppression: {
		label: 'Lift suppression',
		undo: 'A new bounce, unsubscribe or spam report suppresses the address again.',
		parse: (b) => {
			const email = text(b, 'email', 320).toLowerCase();
			if (!isValidEmail(email)) throw new CampaignInputError('email is not an email address', 'email');
			const scope = text(b, 'scope', 200);
			return { email, scope, campaign: typeof b.campaign === 'string' ? b.campaign.trim().slice(0, 100) : '' };
		},
		campaignOf: (p) => p.campaign || null,
		describe: (p) => `Mail ${p.email} again in scope ${p.scope}. Only do this when the person asked for it (a resubscribe) or the address was suppressed by mistake.`,
		run: async (ctx, p) => {
			const n = await ctx.store.liftSuppression(p.email, p.scope);
			return n ? `The ${p.scope} suppression of ${p.email} is lifted.` : `${p.email} had no ${p.scope} suppression.`;
		},
	},
	create_api_key: {
		label: 'Create API key',
		undo: 'Revoke the key to undo it: it is refused from its next call on.',
		parse: (b) => {
			const scopes = (Array.isArray(b.scopes) ? b.scopes : [b.scopes]).filter((x): x is string => typeof x === 'string').join(',');
			const perMinute = text(b, 'per_minute', 6);
			if (!/^\d{1,6}$/.test(perMinute)) throw new CampaignInputError('per_minute must be a whole number', 'per_minute');
			// The key's campaigns must be said: ids, prefix* patterns, or * for every campaign (never all by omission).
			return { name: text(b, 'name', 200), scopes, campaigns: text(b, 'campaigns', 2000), per_minute: perMinute };
		},
		campaignOf: () => null,
		describe: (p) =>
			`Create an API key "${p.name}" for the campaign API: scopes ${p.scopes || '(none)'}, campaigns ${p.campaigns === '*' ? 'all' : p.campaigns}, ${p.per_minute} requests per minute. The key is shown once, on the next page.`,
		run: async (ctx, p) => {
			const made = await createApiKey(ctx.store, { name: p.name, scopes: p.scopes.split(','), campaigns: p.campaigns, perMinute: Number(p.per_minute), createdBy: ctx.actor });
			return { message: `API key ${made.key.prefix} "${made.key.name}" created. ${made.notice}`, reveal: made.apiKey };
		},
	},
	revoke_api_key: {
		label: 'Revoke',
		undo: 'It cannot be undone: create a new key for the client.',
		parse: (b) => ({ key: text(b, 'key', 100) }),
		campaignOf: () => null,
		describe: (p) => `Revoke API key ${p.key}: its next call is refused (401).`,
		run: async (ctx, p) => {
			const { key, already } = await revokeApiKey(ctx.store, p.key, ctx.actor);
			return already ? `API key ${key.prefix} was already revoked.` : `API key ${key.prefix} "${key.name}" is revoked.`;
		},
	},
	resume_run: {
		label: 'Resume run',
		undo: 'A run resumed sends only who it had not sent; nothing goes out twice.',
		parse: (b) => ({ campaign: campaignField(b), run: runField(b) }),
		campaignOf: (p) => p.campaign,
		describe: (p) =>
			`Ask for interrupted run ${p.run} of campaign ${p.campaign} to be resumed: the next Campaign Agent execution of this campaign with Resume Requested Runs on (a Schedule Trigger's, say) continues it from its checkpoint.`,
		run: async (ctx, p) => {
			const asked = await requestResume(ctx.store, p.run, ctx.actor);
			if (!asked || asked.campaign_id !== p.campaign) throw new CampaignInputError(`Run ${p.run} of campaign ${p.campaign} is not interrupted: nothing to resume`, 'run');
			return asked.already ? `Run ${p.run} was already waiting to be resumed.` : `Run ${p.run} will be resumed by the next Campaign Agent execution with Resume Requested Runs on.`;
		},
	},
	pause_scheduled: scheduled('pause', 'Pause scheduled send', 'Resume Scheduled undoes it, before the send time plus 72 hours.'),
	cancel_scheduled: scheduled('cancel', 'Cancel scheduled send', 'Resume Scheduled undoes it until the send time; after it, the messages are discarded and a later run may send them again.'),
	resume_scheduled: scheduled('resume', 'Resume scheduled send', 'Pause or cancel it again, until 10 minutes before the send time.'),
};

export function actionOf(name: unknown): ActionSpec {
	const a = typeof name === 'string' && Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
	if (!a) throw new CampaignInputError(`Unknown action; the dashboard knows ${Object.keys(ACTIONS).join(', ')}`, 'action');
	return a;
}
