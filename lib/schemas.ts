/**
 * The campaign's shapes, declared once. Types are inferred from these schemas and their messages
 * are the validation errors users see, so a field named here is the field named in an error.
 */
import { domainToASCII } from 'node:url';
import { CampaignError } from './errors';
import { z } from 'zod/v4';

/** SendGrid's limits that the schemas enforce (https://www.twilio.com/docs/sendgrid/api-reference/mail-send). */
export const LIMITS = {
	maxPersonalizationsPerRequest: 1000,
	maxRecipientsPerRequest: 1000,
	maxSubstitutionBytes: 10_000,
	maxCustomArgsBytes: 10_000,
	maxCategories: 10,
	maxCategoryLength: 255,
	maxSendAtHours: 72,
	subjectHardLimit: 255,
	subjectRecommended: 78,
	maxVariants: 5,
	/** Lists a user (or an LLM) controls: each is capped so a pasted or generated list cannot run away. */
	maxSteps: 50,
	maxLinks: 20,
	maxFallbacks: 100,
	maxFallbackChars: 1000,
	/** Merge fields per contact (besides email), their name length and their value length. */
	maxContactFields: 500,
	maxFieldNameChars: 100,
	maxFieldChars: 10_000,
	maxMergeTags: 100,
	maxPersonalizeFields: 20,
	/**
	 * A request that sends a dynamic template carries each recipient's data (the rendered copy included)
	 * in its personalization; SendGrid takes at most 30 MB per message, so such requests are split below this.
	 */
	maxTemplateRequestBytes: 20_000_000,
} as const;

/** A dynamic template's id as SendGrid issues them: "d-" and 32 hex digits. */
const DYNAMIC_TEMPLATE_ID = /^d-[0-9a-f]{32}$/i;
export const dynamicTemplateId = z.string().regex(DYNAMIC_TEMPLATE_ID, { message: 'must be a dynamic template id: "d-" and 32 hex digits, as SendGrid shows it under Dynamic Templates' });

const EMAIL_RE = /^[^\s@"<>(),;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const CONTROL_CHARS = /[\r\n\u0000-\u001f\u007f]/;
/** Unicode format characters: zero-width (U+200B-U+200D, U+2060), BOM, soft hyphen, bidi controls... */
const INVISIBLE_CHAR = /\p{Cf}/u;
const CONTROL_CHAR = /\p{Cc}/u;
const NON_ASCII = /[^\u0000-\u007f]/;

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * The domain as it goes out: internationalised labels in punycode (bücher.example → xn--bcher-kva.example);
 * undefined when it is not a valid IDN.
 */
function asciiDomain(domain: string): string | undefined {
	if (!NON_ASCII.test(domain) && !/(^|\.)xn--/.test(domain)) return domain;
	const ascii = domainToASCII(domain);
	return ascii === '' ? undefined : ascii;
}

/** NFC, trimmed and lower-cased, domain in punycode: the canonical form used for dedupe, claims and suppressions. */
export function normalizeEmail(raw: unknown): string {
	if (typeof raw !== 'string') return '';
	const email = raw.normalize('NFC').trim().toLowerCase();
	const at = email.lastIndexOf('@');
	if (at < 0) return email;
	const domain = email.length <= 320 ? asciiDomain(email.slice(at + 1)) : undefined;
	return domain === undefined ? email : `${email.slice(0, at)}@${domain}`;
}

/** Whether an already normalised address (ASCII, lower-case) is one SendGrid accepts. */
export function isValidEmail(email: string): boolean {
	if (email.length > 254 || email.length < 6) return false;
	if (NON_ASCII.test(email) || CONTROL_CHAR.test(email)) return false;
	const at = email.lastIndexOf('@');
	if (at < 1 || at > 64) return false;
	const local = email.slice(0, at);
	if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
	return EMAIL_RE.test(email);
}

/**
 * One address checked the way SendGrid's mail-send API will check it: either its canonical form
 * (NFC, trimmed, lower-case, IDN domain in punycode; Gmail dots and +tags untouched) or the reason it
 * cannot be used, worded to follow the address ("... contains an invisible character (U+200B) ...").
 */
export function checkEmailAddress(raw: unknown): { email: string; reason?: undefined } | { email?: undefined; reason: string } {
	if (raw === undefined || raw === null) return { reason: 'is empty' };
	if (typeof raw !== 'string') return { reason: 'is not a valid email address' };
	const text = raw.normalize('NFC');
	const invisible = INVISIBLE_CHAR.exec(text);
	if (invisible) return { reason: `contains an invisible character (${codePoint(invisible[0])}) — retype the address` };
	const email = text.trim().toLowerCase();
	if (email === '') return { reason: 'is empty' };
	const control = CONTROL_CHAR.exec(email);
	if (control) return { reason: `contains a control character (${codePoint(control[0])}) — retype the address` };
	if (email.length > 254) return { reason: `is ${email.length} characters long — an email address has at most 254` };
	const at = email.lastIndexOf('@');
	if (at < 1) return { reason: 'is not a valid email address' };
	if (NON_ASCII.test(email.slice(0, at)))
		return { reason: "has a non-ASCII character before the @ — SendGrid's mail-send API refuses non-ASCII local parts; use the contact's ASCII address" };
	const domain = asciiDomain(email.slice(at + 1));
	if (domain === undefined) return { reason: 'has a domain that is not a valid internationalised domain name' };
	const canonical = `${email.slice(0, at)}@${domain}`;
	return isValidEmail(canonical) ? { email: canonical } : { reason: 'is not a valid email address' };
}

export const emailAddress = z.string({ error: 'must be an email address' }).transform((s, ctx) => {
	const checked = checkEmailAddress(s);
	if (checked.reason === undefined) return checked.email;
	ctx.addIssue({ code: 'custom', message: checked.reason, input: s });
	return z.NEVER;
});

/** Rejects an oversized list or record before its items are parsed, so a huge one costs one issue, not one per item. */
function capped<S extends z.ZodType>(schema: S, max: number, message: string) {
	return z
		.custom<z.input<S>>()
		.check((ctx) => {
			const v = ctx.value;
			const size = Array.isArray(v) ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0;
			if (size > max) ctx.issues.push({ code: 'custom', message: `${message} (this one has ${size})`, input: v });
		})
		.pipe(schema as unknown as z.ZodType<z.output<S>, z.input<S>>);
}

/** A record of named fields: at most `max` entries, names of at most maxFieldNameChars characters. */
function namedFields<V extends z.ZodType>(value: V, max: number, what: string) {
	return capped(z.record(z.string(), value), max, `at most ${max} ${what}s`).check((ctx) => {
		for (const key of Object.keys(ctx.value ?? {}))
			if (key.length > LIMITS.maxFieldNameChars)
				ctx.issues.push({ code: 'custom', message: `${what} names are at most ${LIMITS.maxFieldNameChars} characters (this one has ${key.length})`, input: key });
	});
}

/** A contact's merge fields as a payload carries them. */
const mergeFields = namedFields(
	z.string().max(LIMITS.maxFieldChars, { message: `merge field values are at most ${LIMITS.maxFieldChars} characters` }),
	LIMITS.maxContactFields,
	'merge field',
);

/** Values used when a contact lacks a merge field: capped like a contact's own fields. */
const fallbackValues = namedFields(
	z.string().max(LIMITS.maxFallbackChars, { message: `fallback values are at most ${LIMITS.maxFallbackChars} characters` }),
	LIMITS.maxFallbacks,
	'fallback',
);

/** A header-safe single line: CR, LF and other control characters are rejected, never passed on. */
const headerSafe = (what: string) =>
	z.string().refine((s) => !CONTROL_CHARS.test(s), { message: `${what} must be one line without control characters (CR/LF)` });

export const sender = z.object({
	email: emailAddress,
	name: headerSafe('The sender name').max(100).optional(),
});

/** Identifiers travel in custom_args and SQL keys: keep them short and printable. */
export const campaignId = z
	.string({ error: 'is required' })
	.trim()
	.regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/, {
		message: 'must be 1-100 characters of letters, digits, "_", ".", ":" or "-", starting with a letter or digit',
	});

export const brief = z.object({
	product: z.string().max(2000).default(''),
	audience: z.string().max(2000).default(''),
	offer: z.string().max(2000).default(''),
	callToAction: z.string().max(500).default(''),
	links: capped(
		z.array(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2000, { message: 'a link is at most 2,000 characters' })),
		LIMITS.maxLinks,
		`at most ${LIMITS.maxLinks} links`,
	).default([]),
	notes: z.string().max(4000).default(''),
});
export type Brief = z.infer<typeof brief>;

export const TONES = ['friendly', 'professional', 'urgent', 'playful'] as const;

export const campaignStep = z.object({
	step: z.number().int().min(1).max(50),
	name: z.string().max(100).optional(),
	/** Delay after enrolment (step 1 usually 0). */
	delayHours: z.number().min(0).max(24 * 365).default(0),
	/** Template copy: used as-is in template mode, and as the fallback when the LLM fails. */
	subject: headerSafe('The subject').max(LIMITS.subjectHardLimit).optional(),
	preheader: z.string().max(250).optional(),
	html: z.string().max(1_000_000).optional(),
	text: z.string().max(1_000_000).optional(),
	/** What this step is about, added to the campaign brief for the LLM. */
	goal: z.string().max(2000).optional(),
	/**
	 * A SendGrid dynamic template to send this step with: the template is the layout, and each recipient's
	 * dynamic_template_data carries their contact fields and the step's copy (subject, preheader, html, text).
	 */
	templateId: dynamicTemplateId.optional(),
	/** Template copy per A/B variant (B, C...): what differs from the step's own subject and body. */
	variantCopy: capped(
		z.record(
			z.string().regex(/^[A-E]$/, { message: 'variant names are A to E' }),
			z.object({
				subject: headerSafe('The subject').max(LIMITS.subjectHardLimit).optional(),
				preheader: z.string().max(250).optional(),
				html: z.string().max(1_000_000).optional(),
				text: z.string().max(1_000_000).optional(),
			}),
		),
		LIMITS.maxVariants,
		`at most ${LIMITS.maxVariants} variants (A to E)`,
	).optional(),
});
export type CampaignStep = z.infer<typeof campaignStep>;

export const DEFAULT_STEPS: CampaignStep[] = [
	{ step: 1, name: 'Day 1 intro', delayHours: 0, goal: 'Introduce the offer and invite the first click.' },
	{ step: 2, name: 'Day 3 follow-up', delayHours: 72, goal: 'Follow up on the intro with a new angle and a reminder.' },
	{ step: 3, name: 'Day 7 last call', delayHours: 168, goal: 'Last call before the offer ends; short and clear.' },
];

export const sendWindow = z
	.object({
		days: z.array(z.number().int().min(0).max(6)).min(1).default([1, 2, 3, 4, 5]),
		startHour: z.number().int().min(0).max(23).default(9),
		endHour: z.number().int().min(1).max(24).default(17),
	})
	.refine((w) => w.endHour > w.startHour, { message: 'endHour must be after startHour' });

export const abTest = z.object({
	/** split: every recipient gets a variant; sample: a sample is tested first, the rest get the winner. */
	mode: z.enum(['split', 'sample']).default('split'),
	samplePercent: z.number().min(1).max(90).default(20),
	waitHours: z.number().min(0).max(24 * 14).default(4),
	metric: z.enum(['unique_click_rate', 'unique_open_rate', 'manual']).default('unique_click_rate'),
	confidence: z.number().min(0.5).max(0.999).default(0.95),
	/** No significant winner after waitHours: keep waiting up to maxWaitHours, or send the leading variant. */
	fallback: z.enum(['keep_waiting', 'send_leader']).default('send_leader'),
	maxWaitHours: z.number().min(0).max(24 * 30).default(48),
	manualWinner: z.string().optional(),
	/**
	 * sequential: an always-valid test (mixture SPRT), honest however often the scheduler re-checks it;
	 * fixed_horizon: the two-proportion z-test, valid for one planned look only.
	 */
	decisionRule: z.enum(['sequential', 'fixed_horizon']).default('sequential'),
	/** Expected conversion rate of the control, for the power check (default: 3 % clicks, 20 % human opens). */
	expectedRate: z.number().gt(0).lt(1).optional(),
});
export type AbTest = z.infer<typeof abTest>;

export const campaign = z
	.object({
		id: campaignId,
		name: z.string().max(200).optional(),
		from: sender,
		replyTo: sender.optional(),
		brief: brief.default(() => brief.parse({})),
		tone: z.string().trim().min(1).max(200).default('friendly'),
		language: z
			.string()
			.trim()
			.regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, { message: 'must be a BCP 47 language code such as "en", "es" or "pt-BR"' })
			.default('en'),
		steps: capped(z.array(campaignStep).min(1, { message: 'needs at least one step' }), LIMITS.maxSteps, `at most ${LIMITS.maxSteps} steps`).default(() => [
			{ step: 1, delayHours: 0 },
		]),
		variants: z.number().int().min(1).max(LIMITS.maxVariants).default(1),
		categories: capped(
			z.array(z.string().trim().min(1).max(LIMITS.maxCategoryLength)),
			LIMITS.maxCategories,
			`SendGrid accepts at most ${LIMITS.maxCategories} categories`,
		).default([]),
		/** RFC 8058 one-click needs https: mailbox providers do not POST to plain http. */
		unsubscribeUrl: z.url({ protocol: /^https$/, message: 'must be an https URL (mailbox providers only POST one-click unsubscribes over https)' }).optional(),
		unsubscribeGroupId: z.number().int().positive().optional(),
		/** Receipts, password resets and the like: no unsubscribe mechanism required. Marketing mail is never transactional. */
		transactional: z.boolean().default(false),
		/** The sender's physical postal address (CAN-SPAM): printed in the footer of every message. */
		postalAddress: z.string().trim().max(300).optional(),
		/** Values used when a contact lacks a merge field, e.g. { first_name: "there" }. */
		fallbacks: fallbackValues.default({}),
		/** Sequences: only send inside this local window (contact's time zone, else the campaign's). */
		sendWindow: sendWindow.optional(),
		timezone: z.string().default('UTC'),
		abTest: abTest.optional(),
	})
	.superRefine((c, ctx) => {
		const seen = new Set<number>();
		c.steps.forEach((s, i) => {
			if (seen.has(s.step)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'step'], message: `step ${s.step} appears twice` });
			seen.add(s.step);
		});
		if (new Set(c.categories).size !== c.categories.length)
			ctx.addIssue({ code: 'custom', path: ['categories'], message: 'categories must be unique' });
	});
export type Campaign = z.infer<typeof campaign>;
export type CampaignInput = z.input<typeof campaign>;

/** A contact: its email plus any other columns, kept as strings for merge tags. */
export const contact = capped(
	z.object({ email: emailAddress }).catchall(z.string().max(LIMITS.maxFieldChars, { message: `merge field values are at most ${LIMITS.maxFieldChars} characters` })),
	LIMITS.maxContactFields + 1,
	`a contact has at most ${LIMITS.maxContactFields} merge fields besides its email`,
).check((ctx) => {
	for (const key of Object.keys(ctx.value ?? {}))
		if (key.length > LIMITS.maxFieldNameChars)
			ctx.issues.push({ code: 'custom', message: `merge field names are at most ${LIMITS.maxFieldNameChars} characters`, path: [key.slice(0, 40)], input: key });
});
export type Contact = z.infer<typeof contact>;

export const recipient = z.object({
	email: emailAddress,
	name: z.string().optional(),
	delivery_id: z.string().min(1),
	/** The contact's merge fields (first_name, company, ...). */
	fields: mergeFields.default({}),
});
export type Recipient = z.infer<typeof recipient>;

export const emailCopy = z.object({
	subject: headerSafe('The subject').min(1).max(LIMITS.subjectHardLimit),
	preheader: z.string().max(250).default(''),
	html: z.string().min(1, { message: 'the html part is empty; SendGrid refuses an empty content value' }),
	text: z.string().refine((t) => t.trim() !== '', { message: 'the text part is empty (an image-only html body has no words for it); SendGrid refuses an empty content value — add a text version or words to the html' }),
	source: z.enum(['template', 'llm', 'fallback']),
	model: z.string().optional(),
	hash: z.string().optional(),
});
export type EmailCopy = z.infer<typeof emailCopy>;

/**
 * What SendGrid would refuse in a copy (an empty or multi-line subject, a control character in it, an
 * empty part), one readable line per problem. The one validator for copy: the LLM copy check, the copy
 * cache and the mail request all ask it, so copy that passes one never fails the next.
 */
export function copyProblems(copy: unknown): string[] {
	const r = emailCopy.safeParse(copy);
	if (r.success) return [];
	return r.error.issues.slice(0, MAX_ISSUES_SHOWN).map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
}

export const trackingSettings = z.object({
	clickTracking: z.boolean().optional(),
	openTracking: z.boolean().optional(),
});

/** A SendGrid IP pool's name as mail send takes it (ip_pool_name: a string of 2 to 64 characters). */
export const ipPoolName = z.string().min(2, { error: 'must be 2-64 characters' }).max(64, { error: 'must be 2-64 characters' });

/**
 * One SendGrid request's worth of recipients of one variant (one n8n item between Build and Send).
 * Converted to the /v3/mail/send body at send time, when the copy is final.
 */
export const emailPayload = z.object({
	campaign_id: campaignId,
	run_id: z.string().min(1).max(100),
	step: z.number().int().min(1),
	variant: z.string().min(1).max(20),
	batch: z.number().int().min(0),
	language: z.string().default('en'),
	tone: z.string().default('friendly'),
	from: sender,
	reply_to: sender.optional(),
	copy: emailCopy.optional(),
	/** A SendGrid dynamic template: the request names it and carries the copy as dynamic_template_data instead of content. */
	template_id: dynamicTemplateId.optional(),
	recipients: capped(z.array(recipient).min(1), LIMITS.maxRecipientsPerRequest, `at most ${LIMITS.maxRecipientsPerRequest} recipients per payload`),
	fallbacks: fallbackValues.default({}),
	/** What the LLM writes from (Generate Email Copy); absent for plain payloads built elsewhere. */
	brief: brief.optional(),
	step_name: z.string().optional(),
	step_goal: z.string().optional(),
	categories: capped(z.array(z.string().max(LIMITS.maxCategoryLength)), LIMITS.maxCategories, `SendGrid accepts at most ${LIMITS.maxCategories} categories`).default([]),
	unsubscribe_url: z.string().optional(),
	asm_group_id: z.number().int().positive().optional(),
	/** SendGrid IP pool to send from (mail send's ip_pool_name: 2-64 characters); its warm-up and daily quota are kept apart from the account's. */
	ip_pool_name: ipPoolName.optional(),
	transactional: z.boolean().default(false),
	postal_address: z.string().max(300).optional(),
	send_at: z.number().int().positive().optional(),
	sandbox: z.boolean().default(false),
	tracking: trackingSettings.optional(),
});
export type EmailPayload = z.infer<typeof emailPayload>;

export const DELIVERY_STATUSES = [
	'sent',
	'failed',
	'retry',
	'deferred',
	'suppressed',
	'already_sent',
	'unconfirmed',
	'dry_run',
	'sandbox',
	/** Not sent: the campaign or its SendGrid account is paused (reputation guard or a user); a run after Resume sends it. */
	'paused',
] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const deliveryResult = z.object({
	delivery_id: z.string(),
	campaign_id: z.string(),
	run_id: z.string(),
	step: z.number().int(),
	variant: z.string(),
	email: z.string(),
	status: z.enum(DELIVERY_STATUSES),
	message_id: z.string().optional(),
	http_status: z.number().int().optional(),
	error: z.string().optional(),
	attempts: z.number().int().min(0).default(0),
	at: z.string().optional(),
});
export type DeliveryResult = z.infer<typeof deliveryResult>;

/** Turns a zod error into one readable line per problem: `steps.0.subject: must be one line ...`. */
export function describeIssues(error: z.ZodError, prefix = ''): string {
	const shown = error.issues.slice(0, MAX_ISSUES_SHOWN).map((i) => {
		// A key can be as long as the input: the path shows the start of it.
		const path = [prefix, ...i.path.map((p) => (String(p).length > 60 ? `${String(p).slice(0, 60)}…` : String(p)))].filter((p) => p !== '').join('.');
		return path ? `${path}: ${i.message}` : i.message;
	});
	const more = error.issues.length - shown.length;
	return shown.join('; ') + (more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : '');
}

/** A list of a million bad items is still one readable error. */
const MAX_ISSUES_SHOWN = 20;

/** The campaign, the contacts or a parameter is not usable as given: says which field, and what to do. */
export class CampaignInputError extends CampaignError {
	constructor(message: string, field?: string, hint?: string) {
		super(message, { field, hint, source: 'input' });
	}
}

/** Parses with a schema; on failure throws a CampaignInputError naming each field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
	const r = schema.safeParse(value);
	if (!r.success) throw new CampaignInputError(`Invalid ${what}: ${describeIssues(r.error)}`);
	return r.data;
}

export { z };
