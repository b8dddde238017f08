/**
 * The subset of Handlebars SendGrid's dynamic templates are mostly written in, enough for tests to see
 * what a recipient would get: `{{name}}` (HTML-escaped, as Handlebars does), `{{{name}}}` (raw),
 * dotted paths (`{{user.name}}`), `{{#if name}}…{{else}}…{{/if}}` (nested), and `{{!comments}}`.
 * Anything else between braces renders as nothing, as an unknown helper would not in real Handlebars:
 * tests only use the subset. One pass over the template with indexOf: linear in its length.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;', '`': '&#x60;', '=': '&#x3D;' };

/** Handlebars' escapeExpression: the seven characters it escapes. */
export function escapeExpression(s: string): string {
	let out = '';
	for (const ch of s) out += ESCAPES[ch] ?? ch;
	return out;
}

function lookup(data: unknown, path: string): unknown {
	let v: unknown = data;
	for (const part of path.split('.')) {
		if (v === null || typeof v !== 'object') return undefined;
		v = (v as Record<string, unknown>)[part];
	}
	return v;
}

function text(v: unknown): string {
	if (v === undefined || v === null || v === false) return '';
	if (typeof v === 'string') return v;
	if (typeof v === 'number' || typeof v === 'boolean') return String(v);
	return '';
}

/** Handlebars' truthiness for #if: empty arrays, '', 0, false, null and undefined are false. */
function truthy(v: unknown): boolean {
	if (Array.isArray(v)) return v.length > 0;
	return v !== undefined && v !== null && v !== false && v !== '' && v !== 0;
}

export function renderHandlebars(template: string, data: unknown): string {
	let out = '';
	// One frame per open #if: whether its branch in force is being written, and whether the parent was.
	const frames: Array<{ parentOn: boolean; cond: boolean; inElse: boolean }> = [];
	let on = true;
	let i = 0;
	while (i < template.length) {
		const open = template.indexOf('{{', i);
		if (open < 0) {
			if (on) out += template.slice(i);
			break;
		}
		if (on) out += template.slice(i, open);
		const triple = template.startsWith('{{{', open);
		const close = template.indexOf(triple ? '}}}' : '}}', open + (triple ? 3 : 2));
		if (close < 0) {
			if (on) out += template.slice(open);
			break;
		}
		const inner = template.slice(open + (triple ? 3 : 2), close).trim();
		i = close + (triple ? 3 : 2);
		if (triple) {
			if (on) out += text(lookup(data, inner));
		} else if (inner.startsWith('!')) {
			// a comment
		} else if (inner.startsWith('#if ')) {
			const cond = truthy(lookup(data, inner.slice(4).trim()));
			frames.push({ parentOn: on, cond, inElse: false });
			on = on && cond;
		} else if (inner === 'else') {
			const f = frames[frames.length - 1];
			if (f && !f.inElse) {
				f.inElse = true;
				on = f.parentOn && !f.cond;
			}
		} else if (inner === '/if') {
			const f = frames.pop();
			if (f) on = f.parentOn;
		} else if (!inner.startsWith('#') && !inner.startsWith('/') && on) out += escapeExpression(text(lookup(data, inner)));
	}
	return out;
}
