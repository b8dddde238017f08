/**
 * A dynamic template step as its recipient would get it: the template's active version rendered with
 * that recipient's dynamic_template_data by Handlebars — the library, in an instance of its own, with
 * the helpers SendGrid's dynamic templates add (equals, notEquals, greaterThan, lessThan, and, or,
 * length, insert, formatDate; if/unless/each/with are Handlebars' own). A template that does not
 * compile, or uses a helper SendGrid does not offer, is reported with the template's name instead of
 * a rendering.
 */
import Handlebars from 'handlebars';
import { htmlToText } from '../copy/format';
import type { ActiveTemplateVersion } from '../sendgrid/templates';

type HelperOptions = Handlebars.HelperOptions;

const hb = Handlebars.create();

/** A block helper comparing two values: the block when `test` holds, else its {{else}}. */
function comparing(test: (a: unknown, b: unknown) => boolean) {
	return function (this: unknown, a: unknown, b: unknown, options: HelperOptions) {
		return test(a, b) ? options.fn(this) : options.inverse(this);
	};
}

const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);

hb.registerHelper('equals', comparing((a, b) => a == b)); // loose on purpose: SendGrid compares "5" and 5 as equal
hb.registerHelper('notEquals', comparing((a, b) => a != b));
hb.registerHelper('greaterThan', comparing((a, b) => num(a) > num(b)));
hb.registerHelper('lessThan', comparing((a, b) => num(a) < num(b)));
hb.registerHelper('and', function (this: unknown, ...args: unknown[]) {
	const options = args.pop() as HelperOptions;
	return args.every((a) => truthy(a)) ? options.fn(this) : options.inverse(this);
});
hb.registerHelper('or', function (this: unknown, ...args: unknown[]) {
	const options = args.pop() as HelperOptions;
	return args.some((a) => truthy(a)) ? options.fn(this) : options.inverse(this);
});
hb.registerHelper('length', (v: unknown) => (Array.isArray(v) || typeof v === 'string' ? v.length : 0));
/** {{insert name "default=Customer"}}: the value, or the default after "default=". */
hb.registerHelper('insert', (v: unknown, fallback: unknown) => {
	const value = v === undefined || v === null || v === '' ? (typeof fallback === 'string' && fallback.startsWith('default=') ? fallback.slice(8) : '') : v;
	return String(value);
});
/** {{formatDate timestamp "MMMM DD, YYYY" offset}}: the tokens of SendGrid's reference (YYYY YY MMMM MMM MM M DD D dddd ddd HH hh H h mm m ss s A a). */
hb.registerHelper('formatDate', (value: unknown, format: unknown, offset: unknown) => {
	const d = new Date(typeof value === 'number' ? value * (value < 1e12 ? 1000 : 1) : String(value ?? ''));
	if (Number.isNaN(d.getTime())) return '';
	const shift = typeof offset === 'string' && /^[+-]\d{2}:\d{2}$/.test(offset) ? (offset[0] === '-' ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4))) : 0;
	return formatDate(new Date(d.getTime() + shift * 60_000), typeof format === 'string' ? format : 'YYYY-MM-DD');
});

function truthy(v: unknown): boolean {
	return Array.isArray(v) ? v.length > 0 : Boolean(v);
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function formatDate(d: Date, format: string): string {
	const pad = (n: number) => String(n).padStart(2, '0');
	const h12 = d.getUTCHours() % 12 || 12;
	const tokens: Record<string, string> = {
		YYYY: String(d.getUTCFullYear()),
		YY: String(d.getUTCFullYear()).slice(-2),
		MMMM: MONTHS[d.getUTCMonth()],
		MMM: MONTHS[d.getUTCMonth()].slice(0, 3),
		MM: pad(d.getUTCMonth() + 1),
		M: String(d.getUTCMonth() + 1),
		dddd: DAYS[d.getUTCDay()],
		ddd: DAYS[d.getUTCDay()].slice(0, 3),
		DD: pad(d.getUTCDate()),
		D: String(d.getUTCDate()),
		HH: pad(d.getUTCHours()),
		H: String(d.getUTCHours()),
		hh: pad(h12),
		h: String(h12),
		mm: pad(d.getUTCMinutes()),
		m: String(d.getUTCMinutes()),
		ss: pad(d.getUTCSeconds()),
		s: String(d.getUTCSeconds()),
		A: d.getUTCHours() < 12 ? 'AM' : 'PM',
		a: d.getUTCHours() < 12 ? 'am' : 'pm',
	};
	// Longest token first at each position: one pass, linear in the format's length.
	return format.replace(/YYYY|YY|MMMM|MMM|MM|M|dddd|ddd|DD|D|HH|H|hh|h|mm|m|ss|s|A|a/g, (t) => tokens[t]);
}

export interface TemplateRendering {
	subject: string;
	html: string;
	text: string;
}

interface Compiled {
	subject: Handlebars.TemplateDelegate;
	html?: Handlebars.TemplateDelegate;
	text?: Handlebars.TemplateDelegate;
}

/** The compiled parts of a version, compiled once per version and reused for every sample. */
const compiledCache = new WeakMap<ActiveTemplateVersion, Compiled>();

function compiled(version: ActiveTemplateVersion): Compiled {
	let c = compiledCache.get(version);
	if (!c) {
		// strict off, as SendGrid: a missing value renders as nothing. Prototype access stays off (Handlebars' default).
		const compile = (s: string) => hb.compile(s, { strict: false });
		c = { subject: compile(version.subject), html: version.html === undefined ? undefined : compile(version.html), text: version.text === undefined ? undefined : compile(version.text) };
		compiledCache.set(version, c);
	}
	return c;
}

/**
 * One recipient's message from the template: subject, html and text (made from the html when the
 * version has no text part and SendGrid would generate one), or why it cannot be rendered.
 */
export function renderTemplate(version: ActiveTemplateVersion, data: Record<string, unknown>): TemplateRendering | { error: string } {
	try {
		const c = compiled(version);
		const html = c.html ? c.html(data) : '';
		const text = c.text ? c.text(data) : version.generatePlainContent && html ? htmlToText(html) : '';
		return { subject: c.subject(data), html, text };
	} catch (e) {
		return { error: `Template "${version.templateName}" (${version.templateId}) cannot be rendered: ${(e as Error).message.split('\n')[0]}` };
	}
}
