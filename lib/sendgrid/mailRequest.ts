/**
 * EmailPayload (one batch of one variant) → /v3/mail/send request bodies, following SendGrid's rules:
 * ≤ 1,000 personalizations, unique addresses, string custom_args, substitutions ≤ 10,000 bytes per
 * personalization (larger ones get a message of their own with the values rendered in place),
 * text/plain before text/html, RFC 8058 one-click unsubscribe headers.
 */
import { EmailCopy, EmailPayload, LIMITS, Recipient, copyProblems } from '../schemas';
import { MergeTag, findMergeTags, headerSafe, htmlKey, mergeValue, renderMergeTags, escapeHtml, withHtmlKeys } from '../merge';
import { newMessageId } from '../events/reply';
import { TEST_SEND_ARG } from '../events/normalize';
import { unsubscribeUrl } from '../unsubscribe/token';
import { wordsFor } from '../unsubscribe/page';
import { CampaignError } from '../errors';

export interface MailAddress {
	email: string;
	name?: string;
}

export interface Personalization {
	to: MailAddress[];
	subject?: string;
	substitutions?: Record<string, string>;
	/** With a dynamic template: the values its Handlebars tags read ({{first_name}}, {{{html}}}...). */
	dynamic_template_data?: Record<string, string>;
	custom_args: Record<string, string>;
	headers?: Record<string, string>;
	send_at?: number;
}

export interface MailSendBody {
	personalizations: Personalization[];
	from: MailAddress;
	reply_to?: MailAddress;
	/** Absent with a dynamic template: its subject and content are the template's. */
	subject?: string;
	content?: Array<{ type: 'text/plain' | 'text/html'; value: string }>;
	template_id?: string;
	categories?: string[];
	asm?: { group_id: number };
	ip_pool_name?: string;
	send_at?: number;
	headers?: Record<string, string>;
	mail_settings?: { sandbox_mode: { enable: boolean } };
	tracking_settings?: {
		click_tracking?: { enable: boolean; enable_text?: boolean };
		open_tracking?: { enable: boolean };
	};
}

export interface MailRequest {
	body: MailSendBody;
	/** The recipients in this request, in personalization order. */
	recipients: Recipient[];
}

/** A payload SendGrid would refuse (no copy, send_at too far...): names the field. */
export class PayloadError extends CampaignError {
	declare readonly field: string;
	constructor(message: string, field: string) {
		super(message, { field, source: 'input' });
	}
}

function byteLength(s: string): number {
	return Buffer.byteLength(s, 'utf8');
}

function address(a: { email: string; name?: string }): MailAddress {
	return a.name ? { email: a.email, name: headerSafe(a.name) } : { email: a.email };
}

/** The Message-ID header each recipient of a request goes out with, in recipient order. */
export function messageIdsOf(req: MailRequest): Array<string | undefined> {
	return req.body.personalizations.map((p) => p.headers?.['Message-ID']);
}

/**
 * Per-recipient one-click unsubscribe URL: the delivery id identifies who clicked, never the address.
 * With the campaign store's secret it carries a token the package's unsubscribe endpoint checks
 * (lib/unsubscribe), so knowing an address is not enough to unsubscribe it.
 */
export function unsubscribeLink(base: string, r: Recipient, campaignId: string, step: number, secret?: Buffer): string {
	return unsubscribeUrl(base, secret, { campaignId, step, deliveryId: r.delivery_id });
}

/**
 * The footer's unsubscribe link: the same signed link as the List-Unsubscribe header, one per
 * recipient as a substitution. A colon cannot appear in a merge tag name, so no copy collides with
 * these keys.
 */
const UNSUBSCRIBE_KEY = '{{eca:unsubscribe}}';
const UNSUBSCRIBE_HTML_KEY = '{{eca:unsubscribe:html}}';

/** The footer: the sender's postal address (CAN-SPAM) and the unsubscribe link, whichever the campaign has. */
function withFooter(payload: EmailPayload, text: string, html: string): { text: string; html: string } {
	const address = payload.postal_address?.trim() ? headerSafe(payload.postal_address) : undefined;
	if (!payload.unsubscribe_url && !address) return { text, html };
	const label = wordsFor(payload.language).words.title;
	const htmlLines = [
		...(address ? [escapeHtml(address)] : []),
		...(payload.unsubscribe_url ? [`<a href="${UNSUBSCRIBE_HTML_KEY}" style="color:#6b6b6b">${escapeHtml(label)}</a>`] : []),
	];
	const textLines = [...(address ? [address] : []), ...(payload.unsubscribe_url ? [`${label}: ${UNSUBSCRIBE_KEY}`] : [])];
	const htmlFooter = `<p style="font-size:12px;color:#6b6b6b;margin-top:24px">${htmlLines.join('<br>')}</p>`;
	const close = html.toLowerCase().lastIndexOf('</body>');
	return {
		text: `${text}\n\n--\n${textLines.join('\n')}`,
		html: close >= 0 ? html.slice(0, close) + htmlFooter + html.slice(close) : html + htmlFooter,
	};
}

export function checkSendAt(sendAt: number | undefined, now = Date.now()): void {
	if (sendAt === undefined) return;
	const max = Math.floor(now / 1000) + LIMITS.maxSendAtHours * 3600;
	if (sendAt > max)
		throw new PayloadError(
			`send_at ${new Date(sendAt * 1000).toISOString()} is more than ${LIMITS.maxSendAtHours} hours ahead — SendGrid only schedules up to 72 hours; schedule the run later instead`,
			'send_at',
		);
}

interface Prepared {
	subject: string;
	text: string;
	html: string;
	tags: MergeTag[];
	htmlTags: MergeTag[];
}

function prepare(copy: EmailCopy): Prepared {
	const subject = headerSafe(copy.subject);
	const body = copy.preheader ? preheaderHtml(copy.preheader) + copy.html : copy.html;
	return {
		subject,
		text: copy.text,
		html: withHtmlKeys(body),
		tags: findMergeTags(subject + '\n' + copy.text),
		htmlTags: findMergeTags(body),
	};
}

function preheaderHtml(preheader: string): string {
	return `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${escapeHtml(preheader)}</div>`;
}

function substitutionsFor(p: Prepared, r: Recipient, fallbacks: Record<string, string>): Record<string, string> {
	const subs: Record<string, string> = {};
	for (const tag of p.tags) subs[tag.key] = headerSafe(mergeValue(tag, r.fields, fallbacks));
	for (const tag of p.htmlTags) subs[htmlKey(tag.key)] = escapeHtml(mergeValue(tag, r.fields, fallbacks));
	return subs;
}

function substitutionBytes(subs: Record<string, string>): number {
	let n = 2;
	// for…in, not Object.entries: no [key, value] pair per substitution of every recipient.
	for (const k in subs) n += byteLength(k) + byteLength(subs[k]) + 6;
	return n;
}

/**
 * Builds the request bodies for one payload. Recipients whose substitutions exceed SendGrid's
 * 10,000 bytes get their own request with the values rendered into the copy.
 */
export function buildMailRequests(
	payload: EmailPayload,
	now = Date.now(),
	onRefused?: (r: Recipient, reason: string) => void,
	/** The campaign store's unsubscribe secret: the List-Unsubscribe links are signed with it. */
	unsubscribeSecret?: Buffer,
): MailRequest[] {
	if (payload.template_id) return buildTemplateRequests(payload, now, onRefused, unsubscribeSecret);
	if (!payload.copy)
		throw new PayloadError(
			`Batch ${payload.batch} of campaign "${payload.campaign_id}" step ${payload.step} has no subject or body — add a Generate Email Copy node before sending, or set the step's subject and body`,
			'copy',
		);
	checkCopy(payload, payload.copy);
	checkSendAt(payload.send_at, now);
	const p = prepare(payload.copy);
	({ text: p.text, html: p.html } = withFooter(payload, p.text, p.html));
	const linkOf = (r: Recipient) => (payload.unsubscribe_url ? unsubscribeLink(payload.unsubscribe_url, r, payload.campaign_id, payload.step, unsubscribeSecret) : undefined);
	const links = new Map<Recipient, string | undefined>();
	const seen = new Set<string>();
	const shared: Recipient[] = [];
	const own: Recipient[] = [];
	const subsOf = new Map<Recipient, Record<string, string>>();
	for (const r of payload.recipients) {
		if (seen.has(r.email))
			throw new PayloadError(`${r.email} appears twice in batch ${payload.batch}; SendGrid requires unique addresses per request`, 'recipients');
		seen.add(r.email);
		const subs = substitutionsFor(p, r, payload.fallbacks);
		const link = linkOf(r);
		links.set(r, link);
		if (link) {
			subs[UNSUBSCRIBE_KEY] = link;
			subs[UNSUBSCRIBE_HTML_KEY] = escapeHtml(link);
		}
		if (substitutionBytes(subs) > LIMITS.maxSubstitutionBytes) own.push(r);
		else {
			shared.push(r);
			subsOf.set(r, subs);
		}
	}
	const requests: MailRequest[] = [];
	if (shared.length > 0) {
		requests.push({
			recipients: shared,
			body: baseBody(payload, p.subject, p.text, p.html, shared.map((r) => personalization(payload, r, subsOf.get(r), links.get(r)))),
		});
	}
	for (const r of own) {
		const rendered = renderForRecipient(payload, r, links.get(r));
		if ('empty' in rendered) {
			if (!onRefused) throw new PayloadError(`${r.email}: ${rendered.empty}`, 'recipients');
			onRefused(r, rendered.empty);
			continue;
		}
		const body = baseBody(payload, rendered.subject, rendered.text, rendered.html, [personalization(payload, r, undefined, links.get(r))]);
		requests.push({ recipients: [r], body });
	}
	return requests;
}

/**
 * The names a dynamic template can use besides the contact's own fields (which keep their names; these
 * win over a contact field of the same name). `html` is the whole body (hidden preheader, copy, footer
 * with the signed unsubscribe link) for `{{{html}}}`; `subject` is plain text (SendGrid escapes `{{ }}`
 * in subjects too, so templates write `{{{subject}}}`).
 */
export const TEMPLATE_DATA_KEYS = ['email', 'subject', 'preheader', 'html', 'text', 'unsubscribe_url', 'postal_address'] as const;

/** The same validator as the copy check and the copy cache: what it refuses, SendGrid would refuse for the whole request. */
function checkCopy(payload: EmailPayload, copy: NonNullable<EmailPayload['copy']>): void {
	const problems = copyProblems(copy);
	if (problems.length > 0)
		throw new PayloadError(
			`The copy of campaign "${payload.campaign_id}" step ${payload.step} variant ${payload.variant} cannot be sent: ${problems.join('; ')}`,
			`copy.${problems[0].split(':')[0]}`,
		);
}

/**
 * Requests for a step sent with a SendGrid dynamic template: no content and no subject of ours (the
 * template's active version has them), one personalization per recipient whose dynamic_template_data is
 * the contact's fields plus the copy rendered for them. Values are data, never template text: Handlebars
 * escapes them where the template writes {{name}}, and merge tags in the copy are rendered here (contact
 * values html-escaped in `html` only), so nothing a contact or the LLM wrote is ever parsed as Handlebars.
 * Substitutions are not used (SendGrid refuses them with dynamic templates); custom_args, the
 * List-Unsubscribe header and Message-ID are as for inline content. ≤ 1,000 personalizations per request
 * as built; split further only if the data would pass LIMITS.maxTemplateRequestBytes.
 */
function buildTemplateRequests(payload: EmailPayload, now: number, onRefused: ((r: Recipient, reason: string) => void) | undefined, unsubscribeSecret: Buffer | undefined): MailRequest[] {
	if (payload.copy) checkCopy(payload, payload.copy);
	checkSendAt(payload.send_at, now);
	const seen = new Set<string>();
	const requests: MailRequest[] = [];
	let recipients: Recipient[] = [];
	let personalizations: Personalization[] = [];
	let bytes = 0;
	const flush = () => {
		if (personalizations.length === 0) return;
		requests.push({ recipients, body: templateBody(payload, personalizations) });
		recipients = [];
		personalizations = [];
		bytes = 0;
	};
	for (const r of payload.recipients) {
		if (seen.has(r.email))
			throw new PayloadError(`${r.email} appears twice in batch ${payload.batch}; SendGrid requires unique addresses per request`, 'recipients');
		seen.add(r.email);
		const link = payload.unsubscribe_url ? unsubscribeLink(payload.unsubscribe_url, r, payload.campaign_id, payload.step, unsubscribeSecret) : undefined;
		const data = templateData(payload, r, link);
		if ('empty' in data) {
			if (!onRefused) throw new PayloadError(`${r.email}: ${data.empty}`, 'recipients');
			onRefused(r, data.empty);
			continue;
		}
		const p = personalization(payload, r, undefined, link);
		p.dynamic_template_data = data;
		const size = byteLength(JSON.stringify(p));
		if (personalizations.length > 0 && (personalizations.length >= LIMITS.maxPersonalizationsPerRequest || bytes + size > LIMITS.maxTemplateRequestBytes)) flush();
		recipients.push(r);
		personalizations.push(p);
		bytes += size;
	}
	flush();
	return requests;
}

/** One recipient's dynamic_template_data (see TEMPLATE_DATA_KEYS), or why their copy would be empty. */
export function templateData(payload: EmailPayload, r: Recipient, link: string | undefined): Record<string, string> | { empty: string } {
	const data: Record<string, string> = {};
	for (const [k, v] of Object.entries(r.fields)) if (typeof v === 'string') data[k] = v;
	data.email = r.email;
	if (payload.copy) {
		const rendered = renderForRecipient(payload, r, link);
		if ('empty' in rendered) return rendered;
		data.subject = rendered.subject;
		data.preheader = payload.copy.preheader ? renderMergeTags(payload.copy.preheader, r.fields, payload.fallbacks, 'text') : '';
		data.html = rendered.html;
		data.text = rendered.text;
	}
	if (link) data.unsubscribe_url = link;
	if (payload.postal_address?.trim()) data.postal_address = headerSafe(payload.postal_address);
	return data;
}

function templateBody(payload: EmailPayload, personalizations: Personalization[]): MailSendBody {
	const body = baseBody(payload, '', '', '', personalizations);
	delete body.subject;
	delete body.content;
	body.template_id = payload.template_id;
	return body;
}

/**
 * One recipient's message with every value in place (subject, text, html with the preheader and the
 * footer), as a recipient sent on their own gets it and as the preview shows it; or why it would be
 * empty. `unsubscribe` is the footer's link.
 */
export function renderForRecipient(payload: EmailPayload, r: Recipient, unsubscribe: string | undefined): { subject: string; text: string; html: string } | { empty: string } {
	const copy = payload.copy;
	if (!copy) return { empty: 'there is no copy yet' };
	const subject = headerSafe(renderMergeTags(copy.subject, r.fields, payload.fallbacks, 'subject'));
	const bodyHtml = copy.preheader ? preheaderHtml(copy.preheader) + copy.html : copy.html;
	const text = renderMergeTags(copy.text, r.fields, payload.fallbacks, 'text');
	const html = renderMergeTags(bodyHtml, r.fields, payload.fallbacks, 'html');
	// Rendered in place, an empty merge value without a fallback can leave nothing SendGrid would take.
	const empty = subject === '' ? 'subject' : text.trim() === '' ? 'text part' : html.trim() === '' ? 'html part' : undefined;
	if (empty) {
		const source = empty === 'subject' ? copy.subject : empty === 'text part' ? copy.text : bodyHtml;
		const tags = [...new Set(findMergeTags(source).filter((t) => !(r.fields[t.name] ?? '').trim() && !t.fallback?.trim() && !payload.fallbacks[t.name]?.trim()).map((t) => t.name))];
		return {
			empty: `the ${empty} would be empty for this recipient (${tags.map((t) => `{{${t}}}`).join(', ') || 'a merge tag'} has no value and no fallback) — give the contact a value or the tag a fallback ({{${tags[0] ?? 'tag'}|…}})`,
		};
	}
	// The footer goes on after the check: a footer alone is no message.
	const link = unsubscribe ?? '';
	const footed = withFooter(payload, text, html);
	return { subject, text: footed.text.split(UNSUBSCRIBE_KEY).join(link), html: footed.html.split(UNSUBSCRIBE_HTML_KEY).join(escapeHtml(link)) };
}

function personalization(payload: EmailPayload, r: Recipient, subs: Record<string, string> | undefined, unsubscribe: string | undefined): Personalization {
	const p: Personalization = {
		to: [address(r)],
		custom_args: {
			campaign_id: payload.campaign_id,
			run_id: payload.run_id,
			step: String(payload.step),
			variant: payload.variant,
			delivery_id: r.delivery_id,
		},
	};
	if (subs && Object.keys(subs).length > 0) p.substitutions = subs;
	// A Message-ID of our own per recipient: a reply names it in In-Reply-To, and only such a reply counts. Not one of SendGrid's reserved
	// headers (x-sg-id, x-sg-eid, received, dkim-signature, Content-Type, Content-Transfer-Encoding, To, From, Subject, Reply-To, CC, BCC: its v3 docs and SDKs).
	p.headers = { 'Message-ID': newMessageId(payload.from.email) };
	if (unsubscribe) {
		p.headers['List-Unsubscribe'] = `<${unsubscribe}>`;
		p.headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
	}
	return p;
}

function baseBody(payload: EmailPayload, subject: string, text: string, html: string, personalizations: Personalization[]): MailSendBody {
	const body: MailSendBody = {
		personalizations,
		from: address(payload.from),
		subject,
		content: [
			{ type: 'text/plain', value: text },
			{ type: 'text/html', value: html },
		],
	};
	if (payload.reply_to) body.reply_to = address(payload.reply_to);
	if (payload.categories.length > 0) body.categories = payload.categories;
	if (payload.asm_group_id) body.asm = { group_id: payload.asm_group_id };
	if (payload.ip_pool_name) body.ip_pool_name = payload.ip_pool_name;
	if (payload.send_at) body.send_at = payload.send_at;
	if (payload.sandbox) body.mail_settings = { sandbox_mode: { enable: true } };
	if (payload.tracking) {
		body.tracking_settings = {};
		if (payload.tracking.clickTracking !== undefined)
			body.tracking_settings.click_tracking = { enable: payload.tracking.clickTracking, enable_text: payload.tracking.clickTracking };
		if (payload.tracking.openTracking !== undefined) body.tracking_settings.open_tracking = { enable: payload.tracking.openTracking };
	}
	return body;
}

/**
 * A test of one step and variant for a seed list: the message as `sample` would get it (values in
 * place), "[Test] " before the subject, one personalization per seed address. It carries none of the
 * campaign's correlation args (no delivery is claimed or counted), no List-Unsubscribe header, and its
 * footer link is deliberately not signed (a seed clicking it unsubscribes nobody); not scheduled.
 */
export function testMailBody(payload: EmailPayload, sample: Recipient, seeds: string[], options: { sandbox: boolean }): MailSendBody {
	const link = payload.unsubscribe_url ? unsubscribeLink(payload.unsubscribe_url, { ...sample, delivery_id: 'test' }, payload.campaign_id, payload.step) : undefined;
	const custom = { [TEST_SEND_ARG]: '1', eca_campaign: payload.campaign_id, eca_step: String(payload.step), eca_variant: payload.variant };
	if (payload.template_id) {
		// The seeds get what the sample would: the same template with the sample's data ("[Test] " before the copy's subject).
		const data = templateData(payload, sample, link);
		if ('empty' in data) throw new PayloadError(`The test of step ${payload.step} variant ${payload.variant} cannot be sent: ${data.empty}`, 'copy');
		if (data.subject !== undefined) data.subject = headerSafe(`[Test] ${data.subject}`);
		return templateBody(
			{ ...payload, send_at: undefined, sandbox: options.sandbox },
			seeds.map((email) => ({ to: [{ email }], custom_args: { ...custom }, headers: { 'Message-ID': newMessageId(payload.from.email) }, dynamic_template_data: { ...data } })),
		);
	}
	const rendered = renderForRecipient(payload, sample, link);
	if ('empty' in rendered) throw new PayloadError(`The test of step ${payload.step} variant ${payload.variant} cannot be sent: ${rendered.empty}`, 'copy');
	const personalizations: Personalization[] = seeds.map((email) => ({
		to: [{ email }],
		custom_args: { ...custom },
		headers: { 'Message-ID': newMessageId(payload.from.email) },
	}));
	return baseBody({ ...payload, send_at: undefined, sandbox: options.sandbox }, headerSafe(`[Test] ${rendered.subject}`), rendered.text, rendered.html, personalizations);
}
