/** Plain-text and html forms of the same copy: every message carries both parts. */
import { escapeHtml } from '../merge';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ', apos: "'" };

export function htmlToText(html: string): string {
	return html
		.replace(/<(script|style|head)[^>]*>[\s\S]*?<\/\1>/gi, '')
		.replace(/<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>([\s\S]*?)<\/a>/gi, (_m, href: string, label: string) => {
			const text = label.replace(/<[^>]+>/g, '').trim();
			return text && text !== href ? `${text} (${href})` : href;
		})
		.replace(/<br\s*\/?>/gi, '\n')
		.replace(/<\/(p|div|h[1-6]|li|tr|table|ul|ol)>/gi, '\n\n')
		.replace(/<li[^>]*>/gi, '- ')
		.replace(/<[^>]+>/g, '')
		.replace(/&(#39|amp|lt|gt|quot|nbsp|apos);/g, (_m, e: string) => ENTITIES[e])
		.replace(/[ \t]+\n/g, '\n')
		.replace(/\n{3,}/g, '\n\n')
		.trim();
}

export function textToHtml(text: string): string {
	return text
		.split(/\n{2,}/)
		.map((p) => `<p>${escapeHtml(p.trim()).replace(/\n/g, '<br>')}</p>`)
		.join('\n');
}
