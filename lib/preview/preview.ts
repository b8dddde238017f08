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
import { renderForRecipient, testMailBody, unsubscribeLink } from '../sendgrid/mailRequest';
import { byStepAndVariant, preflightRun, type PreflightFinding } from './preflight';

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
}

export function previewSamples(payloads: EmailPayload[], options: { samples?: number } = {}): PreviewSample[] {
	const n = Math.max(1, Math.min(options.samples ?? 3, 20));
	const out: PreviewSample[] = [];
	for (const p of byStepAndVariant(payloads)) {
		for (const r of p.recipients.slice(0, n)) {
			// The link shown is the recipient's real link, unsigned: the preview never holds a working token.
			const link = p.unsubscribe_url ? unsubscribeLink(p.unsubscribe_url, r, p.campaign_id, p.step) : undefined;
			const rendered = renderForRecipient(p, r, link);
			const base = { campaign_id: p.campaign_id, step: p.step, variant: p.variant, language: p.language, contact: r.email, preheader: p.copy?.preheader };
			out.push('empty' in rendered ? { ...base, subject: '', html: '', text: '', refused: rendered.empty } : { ...base, ...rendered });
		}
	}
	return out;
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
		const at = { step: p.step, variant: p.variant, seeds: seeds.length };
		try {
			const res = await transport.sendMail(testMailBody(p, sample, seeds, options));
			out.push({ ...at, status: options.sandbox ? 'sandbox' : 'sent', http_status: res.status, message_id: res.headers['x-message-id'] });
		} catch (e) {
			out.push({ ...at, status: 'failed', error: (e as Error).message });
		}
	}
	return out;
}

/** The preview page: every step and variant's samples side by side with their findings. Everything is escaped; message html is shown in a sandboxed frame. */
export function previewPage(samples: PreviewSample[], findings: PreflightFinding[], title = 'Campaign preview'): string {
	const e = escapeHtml;
	const sections = new Map<string, PreviewSample[]>();
	for (const s of samples) {
		const key = `${s.step}\n${s.variant}`;
		sections.set(key, [...(sections.get(key) ?? []), s]);
	}
	const body = [...sections.values()]
		.map((list) => {
			const { step, variant, language } = list[0];
			const mine = findings.filter((f) => f.step === step && f.variant === variant);
			const notes = mine.length
				? `<ul class="findings">${mine.map((f) => `<li class="${f.level}"><b>${f.level}</b> ${e(f.message)}</li>`).join('')}</ul>`
				: '<p class="ok">No preflight findings.</p>';
			const cards = list
				.map((s) =>
					s.refused
						? `<div class="card"><p class="who">${e(s.contact)}</p><p class="error">${e(s.refused)}</p></div>`
						: `<div class="card"><p class="who">${e(s.contact)}</p><p class="subject">${e(s.subject)}</p>${s.preheader ? `<p class="preheader">${e(s.preheader)}</p>` : ''}<iframe sandbox="" title="${e(s.subject)}" srcdoc="${e(s.html)}"></iframe><details><summary>Text part</summary><pre>${e(s.text)}</pre></details></div>`,
				)
				.join('');
			return `<section data-step="${step}" data-variant="${e(variant)}"><h2>Step ${step} · variant ${e(variant)} · ${e(language)}</h2>${notes}<div class="cards">${cards}</div></section>`;
		})
		.join('');
	return `<!doctype html><html><head><meta charset="utf-8"><title>${e(title)}</title><style>body{font-family:system-ui,sans-serif;margin:2rem;color:#222}.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;padding:.8rem;width:380px}.subject{font-weight:600}.preheader,.who{color:#666;font-size:.9rem}iframe{width:100%;height:420px;border:1px solid #eee}.error{color:#b00020}.warning{color:#8a5a00}.ok{color:#2e7d32}</style></head><body><h1>${e(title)}</h1>${body || '<p>Nothing to preview: no payloads came in.</p>'}</body></html>`;
}
