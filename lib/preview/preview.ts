/**
 * Preview and test sends: what a marketer looks at before a campaign goes out. For each step and
 * variant: the message as a few sample contacts would get it (values in place, fallbacks applied,
 * footer included), the preflight findings, a page to look at it all in a browser, and a test send
 * of every variant to a seed list — never claimed, never counted, never suppressing anyone.
 */
import { escapeHtml } from '../merge';
import type { EmailPayload } from '../schemas';
import { CampaignInputError, isValidEmail } from '../schemas';
import type { SendGridTransport } from '../sendgrid/client';
import { renderForRecipient, templateData, testMailBody, unsubscribeLink } from '../sendgrid/mailRequest';
import { getActiveTemplateVersion, type ActiveTemplateVersion } from '../sendgrid/templates';
import { byStepAndVariant, preflightRun, type PreflightFinding } from './preflight';
import { renderTemplate } from './templateRender';

export interface PreviewSample {
	campaign_id: string;
	step: number;
	variant: string;
	language: string;
	/** The sample contact this rendering is for. */
	contact: string;
	subject: string;
	preheader?: string;
	html: string;
	text: string;
	/** Set instead of the message when this contact's message would be empty. */
	refused?: string;
	/** A dynamic template step: the template, and whether the message shown is its rendering (else the copy it is given). */
	template?: { id: string; name?: string; version?: string; rendered: boolean; note?: string };
	/** A dynamic template step: the dynamic_template_data this contact's request carries. */
	template_data?: Record<string, string>;
}

/** What the preview knows of each dynamic template a step uses: its active version, or why it could not be had. */
export type TemplateVersions = Map<string, ActiveTemplateVersion | { error: string }>;

/**
 * The active versions of the dynamic templates the payloads use, one request per template. A template
 * SendGrid does not know, or one with no active version, is kept as its error: the preview says so on
 * that step instead of failing the others.
 */
export async function loadTemplateVersions(payloads: EmailPayload[], transport: SendGridTransport): Promise<TemplateVersions> {
	const out: TemplateVersions = new Map();
	for (const id of new Set(payloads.map((p) => p.template_id).filter((t): t is string => !!t))) {
		try {
			out.set(id, await getActiveTemplateVersion(transport, id));
		} catch (e) {
			out.set(id, { error: (e as Error).message });
		}
	}
	return out;
}

export function previewSamples(payloads: EmailPayload[], options: { samples?: number; templates?: TemplateVersions } = {}): PreviewSample[] {
	const n = Math.max(1, Math.min(options.samples ?? 3, 20));
	const out: PreviewSample[] = [];
	for (const p of byStepAndVariant(payloads)) {
		for (const r of p.recipients.slice(0, n)) {
			// The link shown is the recipient's real link, unsigned: the preview never holds a working token.
			const link = p.unsubscribe_url ? unsubscribeLink(p.unsubscribe_url, r, p.campaign_id, p.step) : undefined;
			const base = { campaign_id: p.campaign_id, step: p.step, variant: p.variant, language: p.language, contact: r.email, preheader: p.copy?.preheader };
			if (p.template_id) {
				out.push(templateSample(p, r, link, base, options.templates?.get(p.template_id)));
				continue;
			}
			const rendered = renderForRecipient(p, r, link);
			out.push('empty' in rendered ? { ...base, subject: '', html: '', text: '', refused: rendered.empty } : { ...base, ...rendered });
		}
	}
	return out;
}

/**
 * A template step's sample: the template's active version rendered with the contact's data, as
 * SendGrid renders it; without the template (no credential, unknown template) the copy it would be
 * given, with a note saying why.
 */
function templateSample(
	p: EmailPayload,
	r: EmailPayload['recipients'][number],
	link: string | undefined,
	base: Omit<PreviewSample, 'subject' | 'html' | 'text'>,
	version: ActiveTemplateVersion | { error: string } | undefined,
): PreviewSample {
	const id = p.template_id!;
	const data = templateData(p, r, link);
	if ('empty' in data) return { ...base, subject: '', html: '', text: '', refused: data.empty, template: { id, rendered: false } };
	const copyOnly = (note: string): PreviewSample => ({
		...base,
		subject: data.subject ?? '',
		html: data.html ?? '',
		text: data.text ?? '',
		template: { id, rendered: false, note },
		template_data: data,
	});
	if (!version) return copyOnly('Not rendered in the template: select a SendGrid credential on this node to load it; shown is the copy the template is given');
	if ('error' in version) return copyOnly(`Not rendered in the template: ${version.error}`);
	const rendered = renderTemplate(version, data);
	if ('error' in rendered) return { ...copyOnly(rendered.error), refused: rendered.error };
	const empty = rendered.subject.trim() === '' ? 'subject' : rendered.html.trim() === '' && rendered.text.trim() === '' ? 'body' : undefined;
	return {
		...base,
		...rendered,
		template: { id, name: version.templateName, version: version.versionId, rendered: true },
		template_data: data,
		...(empty ? { refused: `The template's ${empty} renders empty for this contact — SendGrid refuses a message without one: check the template's {{fields}} against its data (${Object.keys(data).join(', ')})` } : {}),
	};
}

export function previewFindings(payloads: EmailPayload[], live: boolean): PreflightFinding[] {
	return preflightRun(payloads, { live });
}

/** Seed addresses from a comma/space/newline separated list: at most 20, each checked. */
export function parseSeeds(list: string): string[] {
	const seeds = [...new Set(list.split(/[\s,;]+/).map((s) => s.trim().toLowerCase()).filter(Boolean))];
	const bad = seeds.filter((s) => !isValidEmail(s));
	if (bad.length > 0) throw new CampaignInputError(`Seed addresses: ${bad.slice(0, 3).join(', ')} ${bad.length === 1 ? 'is not an email address' : 'are not email addresses'}`);
	if (seeds.length > 20) throw new CampaignInputError(`Seed addresses: ${seeds.length} given, at most 20 — a test send goes to people who check it`);
	return seeds;
}

export interface TestSendResult {
	step: number;
	variant: string;
	language: string;
	seeds: number;
	status: 'sent' | 'sandbox' | 'failed';
	http_status?: number;
	message_id?: string;
	error?: string;
}

/** One request per step and variant to the seeds, as the first sample contact would get it; nothing is stored. */
export async function sendTests(payloads: EmailPayload[], seeds: string[], transport: SendGridTransport, options: { sandbox: boolean }): Promise<TestSendResult[]> {
	if (seeds.length === 0) throw new CampaignInputError('Seed addresses: add at least one address to send the test to', 'seeds');
	const out: TestSendResult[] = [];
	for (const p of byStepAndVariant(payloads)) {
		const sample = p.recipients[0];
		const at = { step: p.step, variant: p.variant, language: p.language, seeds: seeds.length };
		try {
			const res = await transport.sendMail(testMailBody(p, sample, seeds, options));
			out.push({ ...at, status: options.sandbox ? 'sandbox' : 'sent', http_status: res.status, message_id: res.headers['x-message-id'] });
		} catch (e) {
			out.push({ ...at, status: 'failed', error: (e as Error).message });
		}
	}
	return out;
}

function templateLine(s: PreviewSample): string {
	if (!s.template) return '';
	const e = escapeHtml;
	const what = s.template.rendered ? `in template ${e(s.template.name ?? s.template.id)}` : `template ${e(s.template.id)} not rendered`;
	return `<p class="template${s.template.rendered ? '' : ' warning'}">${what}${s.template.note ? ` — ${e(s.template.note)}` : ''}</p>`;
}

/** The preview page: every step and variant's samples side by side with their findings. Everything is escaped; message html is shown in a sandboxed frame. */
export function previewPage(samples: PreviewSample[], findings: PreflightFinding[], title = 'Campaign preview'): string {
	const e = escapeHtml;
	const sections = new Map<string, PreviewSample[]>();
	for (const s of samples) {
		const key = `${s.step}\n${s.variant}\n${s.language}`;
		sections.set(key, [...(sections.get(key) ?? []), s]);
	}
	const body = [...sections.values()]
		.map((list) => {
			const { step, variant, language } = list[0];
			const mine = findings.filter((f) => f.step === step && f.variant === variant && (f.language === undefined || f.language === language));
			const notes = mine.length
				? `<ul class="findings">${mine.map((f) => `<li class="${f.level}"><b>${f.level}</b> ${e(f.message)}</li>`).join('')}</ul>`
				: '<p class="ok">No preflight findings.</p>';
			const cards = list
				.map((s) =>
					s.refused
						? `<div class="card"><p class="who">${e(s.contact)}</p><p class="error">${e(s.refused)}</p></div>`
						: `<div class="card"><p class="who">${e(s.contact)}</p>${templateLine(s)}<p class="subject">${e(s.subject)}</p>${s.preheader ? `<p class="preheader">${e(s.preheader)}</p>` : ''}<iframe sandbox="" title="${e(s.subject)}" srcdoc="${e(s.html)}"></iframe><details><summary>Text part</summary><pre>${e(s.text)}</pre></details></div>`,
				)
				.join('');
			return `<section data-step="${step}" data-variant="${e(variant)}" data-language="${e(language)}"><h2>Step ${step} · variant ${e(variant)} · ${e(language)}</h2>${notes}<div class="cards">${cards}</div></section>`;
		})
		.join('');
	return `<!doctype html><html><head><meta charset="utf-8"><title>${e(title)}</title><style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;padding:.8rem;width:380px}.subject{font-weight:600}.preheader,.who{color:#666;font-size:.9rem}iframe{width:100%;height:420px;border:1px solid #eee}.error{color:#b00020}.warning{color:#8a5a00}.ok{color:#2e7d32}</style></head><body><h1>${e(title)}</h1>${body || '<p>Nothing to preview: no payloads came in.</p>'}</body></html>`;
}
