/**
 * Preflight: what a deliverability engineer checks before a campaign goes out, per step and variant,
 * each finding with its fix. Errors stop a live run before anything is claimed (the send stage runs
 * this for every live send: stage nodes, Campaign Agent, Campaign Sequence); warnings are reported.
 */
import type { EmailPayload } from '../schemas';
import { findMergeTags, unfilledPlaceholders } from '../merge';
import { linksIn, linkRefusal, linkPolicy } from '../llm/links';
import { unsubscribeProblem } from '../unsubscribe/mechanism';
import { CampaignError } from '../errors';

export interface PreflightFinding {
	level: 'error' | 'warning';
	/** A stable name for the rule, for filtering in a workflow. */
	rule: string;
	step: number;
	variant: string;
	/** The copy's language: a run with contacts in several languages has a copy, and findings, per language. */
	language?: string;
	message: string;
}

/** A live run stopped by preflight errors before anything was claimed or sent. */
export class PreflightError extends CampaignError {
	constructor(readonly findings: PreflightFinding[]) {
		const shown = findings.slice(0, 5).map(describeFinding);
		const more = findings.length > shown.length ? ` (and ${findings.length - shown.length} more)` : '';
		super(`Preflight stopped the run before anything was sent — ${shown.join(' | ')}${more}`, {
			field: 'campaign',
			hint: 'Fix these in the campaign (or its options), then run again; Campaign Preview shows each variant as recipients would see it',
		});
	}
}

/** A finding as one line of a run's output or error: where, then what. */
export function describeFinding(f: PreflightFinding): string {
	return `step ${f.step} variant ${f.variant}: ${f.message}`;
}

/** Gmail clips a message whose html is larger than this ("[Message clipped]"), hiding the rest and the footer. */
export const GMAIL_CLIP_BYTES = 102 * 1024;
/** Beyond this many characters most inboxes cut the subject line (mobile clients show fewer). */
export const SUBJECT_RECOMMENDED_CHARS = 60;

const LINK_LIMIT = 200;

/**
 * The findings for one payload (one step and variant with its copy). `live`: the payload is about to
 * be sent for real (an unsubscribe mechanism is then required). The merge fields known are those of
 * the payload's recipients and the campaign's fallbacks.
 */
export function preflightPayload(payload: EmailPayload, options: { live: boolean; knownFields?: Set<string> }): PreflightFinding[] {
	const at = { step: payload.step, variant: payload.variant, language: payload.language };
	const out: PreflightFinding[] = [];
	const add = (level: PreflightFinding['level'], rule: string, message: string) => out.push({ level, rule, ...at, message });
	const copy = payload.copy;
	// A dynamic template brings its own layout, subject and content: copy is then optional data for it.
	if (!copy && payload.template_id) {
		if (options.live) {
			const problem = unsubscribeProblem(payload);
			if (problem) add('error', 'unsubscribe', problem);
		}
		return out;
	}
	if (!copy) {
		add('error', 'no_copy', 'there is no subject or body yet — add Generate Email Copy before this node, or give the step a subject and body');
		return out;
	}
	if (options.live) {
		const problem = unsubscribeProblem(payload);
		if (problem) add('error', 'unsubscribe', problem);
	}
	// Merge tags are not words: a text part of tags alone is as empty as an image-only one.
	const words = copy.text.replace(/\{\{[^{}]*\}\}/g, ' ').replace(/[^\p{L}\p{N}]+/gu, '');
	// With a dynamic template the text part is the template's (SendGrid can generate it from the html).
	if (words.length === 0 && !payload.template_id)
		add('error', 'text_empty', 'the text part is empty or holds no words (an image-only email): spam filters and text-only clients see nothing — write a text version');
	const htmlBytes = Buffer.byteLength(copy.html, 'utf8') + Buffer.byteLength(copy.preheader ?? '', 'utf8');
	if (htmlBytes > GMAIL_CLIP_BYTES)
		add('warning', 'html_clipped', `the html is ${Math.round(htmlBytes / 1024)} KB; Gmail clips messages over 102 KB and hides the rest, the unsubscribe link included — shorten it or move content to a web page`);
	const subjectChars = [...copy.subject].length;
	if (subjectChars > SUBJECT_RECOMMENDED_CHARS)
		add('warning', 'subject_long', `the subject is ${subjectChars} characters; most inboxes show about ${SUBJECT_RECOMMENDED_CHARS} (phones fewer) — put the point first or shorten it`);
	if (!copy.preheader?.trim()) add('warning', 'no_preheader', 'no preheader: inboxes show the first words of the body instead — add one that complements the subject');

	// Merge tags: a tag that names no contact field and has no fallback renders as nothing.
	const known = new Set<string>([...Object.keys(payload.fallbacks), ...(options.knownFields ?? [])]);
	for (const r of payload.recipients) for (const k of Object.keys(r.fields)) known.add(k);
	const all = `${copy.subject}\n${copy.preheader ?? ''}\n${copy.text}\n${copy.html}`;
	const tags = findMergeTags(all);
	const unknown = [...new Set(tags.filter((t) => !known.has(t.name) && t.fallback === undefined).map((t) => `{{${t.name}}}`))];
	if (unknown.length > 0)
		add('error', 'merge_tag_unknown', `${unknown.join(', ')} ${unknown.length === 1 ? 'matches' : 'match'} no contact field and ${unknown.length === 1 ? 'has' : 'have'} no fallback, so readers would see nothing there — fix the name or add a fallback ({{name|friend}})`);
	const missing = [...new Set(tags.filter((t) => known.has(t.name) && t.fallback === undefined && !payload.fallbacks[t.name]).map((t) => t.name))];
	for (const name of missing) {
		const without = payload.recipients.filter((r) => !(r.fields[name] ?? '').trim()).length;
		if (without > 0)
			add('warning', 'merge_tag_empty', `${without} of ${payload.recipients.length} recipients have no ${name} and {{${name}}} has no fallback — add one ({{${name}|there}}) or the campaign fallback`);
	}
	const placeholders = unfilledPlaceholders(all, known).filter((p) => !p.startsWith('{{'));
	if (placeholders.length > 0) add('error', 'placeholder', `unfilled placeholders would reach readers: ${placeholders.slice(0, 5).join(', ')} — replace them with merge tags or text`);

	// Links: https only, and only the brief's links when it lists some.
	const links = linksIn(copy.html, copy.text, LINK_LIMIT);
	// linksIn gives each link once.
	const insecure = links.filter((l) => /^http:/i.test(l) || /^www\./i.test(l));
	if (insecure.length > 0) add('warning', 'link_not_https', `links without https: ${insecure.slice(0, 5).join(', ')} — mail clients and filters distrust plain http; use https`);
	const allowed = payload.brief?.links ?? [];
	if (allowed.length > 0) {
		const policy = linkPolicy(allowed);
		const outside = links.filter((l) => linkRefusal(l, policy) !== undefined);
		if (outside.length > 0) add('warning', 'link_not_allowed', `links not on the campaign's list (${allowed.join(', ')}): ${outside.slice(0, 5).join(', ')}`);
	}
	if (!payload.transactional && !payload.postal_address?.trim())
		add('warning', 'no_postal_address', "the campaign has no Postal Address: CAN-SPAM requires a physical address in commercial email — set it in the campaign's options (it goes into the footer)");
	return out;
}

/**
 * A run's payloads one per campaign, step and variant (its batches share one copy): the first batch
 * with the recipients of all of them, in order.
 */
export function byStepAndVariant(payloads: EmailPayload[]): EmailPayload[] {
	const groups = new Map<string, EmailPayload>();
	for (const p of payloads) {
		// One copy per step, variant and language: a Spanish contact is never shown (or tested) with the English copy.
		const key = `${p.campaign_id}\n${p.step}\n${p.variant}\n${p.language}`;
		const seen = groups.get(key);
		if (seen) seen.recipients.push(...p.recipients);
		else groups.set(key, { ...p, recipients: [...p.recipients] });
	}
	return [...groups.values()];
}

/** The findings for a run's payloads, each step and variant once, over all its batches' recipients. */
export function preflightRun(payloads: EmailPayload[], options: { live: boolean }): PreflightFinding[] {
	// A field any contact of the run has is a real field (another variant's contacts may lack it).
	const knownFields = new Set<string>();
	for (const p of payloads) for (const r of p.recipients) for (const k of Object.keys(r.fields)) knownFields.add(k);
	return byStepAndVariant(payloads).flatMap((p) => preflightPayload(p, { ...options, knownFields }));
}
