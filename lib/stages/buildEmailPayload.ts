/**
 * Stage `build_email_payload`: contacts × campaign step × variant → batches of recipients, one per
 * future SendGrid request (≤ 1,000 recipients of one variant, one language and one send instant,
 * unique addresses), each recipient with its correlation delivery id and merge fields.
 */
import { htmlToText, textToHtml } from '../copy/format';
import { deliveryId, variantFor } from '../ids';
import { Campaign, CampaignInputError, CampaignStep, Contact, EmailCopy, EmailPayload, LIMITS, Recipient, copyProblems } from '../schemas';
import { checkSendAt } from '../sendgrid/mailRequest';
import { AudienceOptions, AudiencePlanner, AudienceReport } from '../contacts/audience';

export interface BuildOptions {
	step: number;
	/** Recipients per SendGrid request, 1-1000. */
	batchSize?: number;
	/** Unix seconds; at most 72 h ahead. */
	sendAt?: number;
	sandbox?: boolean;
	tracking?: { clickTracking?: boolean; openTracking?: boolean };
	now?: number;
	/** A variant chosen elsewhere (sequence enrollment, A/B winner); default: the deterministic hash. */
	variantOf?: (c: Contact) => string;
	/** Contact field with the copy language (default `language`; '' = the campaign's language for everyone). */
	languageField?: AudienceOptions['languageField'];
	/** Contact field with an IANA time zone, read with localSendTime (default `timezone`). */
	timeZoneField?: AudienceOptions['timeZoneField'];
	/** "HH:MM": send each contact at this local time (send_at per request); beyond 72 h they are left for a later run. */
	localSendTime?: AudienceOptions['localSendTime'];
	/** Time zone for contacts without a usable one (default: the campaign's). */
	defaultTimeZone?: AudienceOptions['defaultTimeZone'];
}

export interface BuildResult {
	payloads: EmailPayload[];
	audience: AudienceReport;
}

export function stepOf(campaign: Campaign, step: number): CampaignStep {
	const s = campaign.steps.find((x) => x.step === step);
	if (!s)
		throw new CampaignInputError(
			`Campaign "${campaign.id}" has no step ${step}; its steps are ${campaign.steps.map((x) => x.step).join(', ')}`,
			'step',
		);
	return s;
}

/** The step's own subject and body, when it has them: template mode and the LLM fallback. */
export function templateCopy(step: CampaignStep, variant = 'A'): EmailCopy | undefined {
	const own = step.variantCopy?.[variant];
	const subject = own?.subject ?? step.subject;
	const htmlIn = own?.html ?? (own?.text ? undefined : step.html);
	const textIn = own?.text ?? (own?.html ? undefined : step.text);
	if (!subject || (!htmlIn && !textIn)) return undefined;
	const html = htmlIn ?? textToHtml(textIn!);
	const text = textIn ?? htmlToText(htmlIn!);
	const copy: EmailCopy = { subject, preheader: own?.preheader ?? step.preheader ?? '', html, text, source: 'template' };
	// Refused here, before a single recipient is claimed, rather than by SendGrid for every batch.
	const problems = copyProblems(copy);
	if (problems.length > 0)
		throw new CampaignInputError(`Step ${step.step}${variant !== 'A' ? ` (variant ${variant})` : ''} cannot be sent: ${problems.join('; ')}`, `steps.${step.step}`);
	return copy;
}

function displayName(c: Contact): string | undefined {
	const name = c.name ?? [c.first_name, c.last_name].filter((x) => x && x.trim()).join(' ');
	const clean = name?.replace(/[\r\n\u0000-\u001f\u007f"<>]+/g, ' ').trim();
	return clean ? clean.slice(0, 100) : undefined;
}

export function toRecipient(campaignId: string, step: number, c: Contact): Recipient {
	const { email, ...fields } = c;
	return { email, name: displayName(c), delivery_id: deliveryId(campaignId, step, email), fields };
}

/** The payloads only (callers that use neither a language field's report nor a Local Send Time). */
export function buildEmailPayloads(campaign: Campaign, contacts: Contact[], runId: string, options: BuildOptions): EmailPayload[] {
	return planEmailPayloads(campaign, contacts, runId, options).payloads;
}

/**
 * The payloads and what the audience looked like. Requests are grouped by (variant, language, send
 * instant), so one request holds one of each; contacts whose local send time is beyond SendGrid's
 * 72 h horizon are in no payload (nobody claims them) and are counted as left for later.
 */
export function planEmailPayloads(campaign: Campaign, contacts: Contact[], runId: string, options: BuildOptions): BuildResult {
	const step = stepOf(campaign, options.step);
	const batchSize = options.batchSize ?? LIMITS.maxRecipientsPerRequest;
	if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.maxRecipientsPerRequest)
		throw new CampaignInputError(`Batch size must be a whole number from 1 to ${LIMITS.maxRecipientsPerRequest}, not ${batchSize}`, 'batchSize');
	checkSendAt(options.sendAt, options.now);
	if (options.sendAt !== undefined && options.localSendTime?.trim())
		throw new CampaignInputError('Send At and Local Send Time cannot both be set: Send At is one instant for everyone, Local Send Time one per time zone — clear one of them', 'localSendTime');
	const planner = new AudiencePlanner(campaign, {
		languageField: options.languageField,
		timeZoneField: options.timeZoneField,
		localSendTime: options.localSendTime,
		defaultTimeZone: options.defaultTimeZone,
		now: options.now,
	});

	interface Group {
		variant: string;
		language: string;
		sendAt?: number;
		recipients: Recipient[];
	}
	const groups = new Map<string, Group>();
	const seen = new Set<string>();
	for (const c of contacts) {
		if (seen.has(c.email))
			throw new CampaignInputError(
				`${c.email} appears twice in the contacts — de-duplicate them first (Load Campaign Content does this and reports the duplicate rows)`,
				'contacts',
			);
		seen.add(c.email);
		const place = planner.place(c);
		if (place.later) continue;
		const v = options.variantOf?.(c) ?? variantFor(campaign.id, c.email, campaign.variants);
		const sendAt = place.sendAt ?? options.sendAt;
		const key = `${v}\n${place.language}\n${sendAt ?? ''}`;
		let g = groups.get(key);
		if (!g) groups.set(key, (g = { variant: v, language: place.language, sendAt, recipients: [] }));
		g.recipients.push(toRecipient(campaign.id, step.step, c));
	}

	const order = [...groups.values()].sort(
		(a, b) => (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0) || (a.language < b.language ? -1 : a.language > b.language ? 1 : 0) || (a.sendAt ?? 0) - (b.sendAt ?? 0),
	);
	const payloads: EmailPayload[] = [];
	const copyOf = new Map<string, EmailCopy | undefined>();
	let batch = 0;
	for (const g of order) {
		// One copy per variant, converted and checked once, shared by its batches.
		if (!copyOf.has(g.variant)) copyOf.set(g.variant, templateCopy(step, g.variant));
		const copy = copyOf.get(g.variant);
		const list = g.recipients;
		for (let i = 0; i < list.length; i += batchSize) {
			payloads.push({
				campaign_id: campaign.id,
				run_id: runId,
				step: step.step,
				variant: g.variant,
				batch: batch++,
				language: g.language,
				tone: campaign.tone,
				from: campaign.from,
				reply_to: campaign.replyTo,
				copy,
				template_id: step.templateId,
				recipients: list.slice(i, i + batchSize),
				fallbacks: campaign.fallbacks,
				brief: campaign.brief,
				step_name: step.name,
				step_goal: step.goal,
				categories: campaign.categories,
				unsubscribe_url: campaign.unsubscribeUrl,
				asm_group_id: campaign.unsubscribeGroupId,
				transactional: campaign.transactional,
				postal_address: campaign.postalAddress,
				send_at: g.sendAt,
				sandbox: options.sandbox ?? false,
				tracking: options.tracking,
			});
		}
	}
	return { payloads, audience: planner.report };
}
