/**
 * A small stop-word language guess, enough to catch copy written in the wrong language
 * (e.g. English copy for a Spanish campaign). Unknown languages are never rejected.
 */
import { NextIndex, Splicer, isJsSpace } from '../text';

const STOPWORDS: Record<string, string[]> = {
	en: ['the', 'and', 'you', 'your', 'for', 'with', 'this', 'that', 'are', 'our', 'have', 'will', 'to', 'of', 'is', 'it', 'on', 'we', 'can', 'just'],
	es: ['el', 'la', 'los', 'las', 'de', 'que', 'y', 'en', 'un', 'una', 'por', 'para', 'con', 'tu', 'su', 'es', 'del', 'al', 'te', 'nuestro'],
	fr: ['le', 'la', 'les', 'des', 'et', 'est', 'vous', 'votre', 'pour', 'avec', 'une', 'un', 'dans', 'sur', 'nous', 'que', 'qui', 'du', 'pas', 'ce'],
	de: ['der', 'die', 'das', 'und', 'ist', 'sie', 'ihr', 'ihre', 'mit', 'für', 'ein', 'eine', 'nicht', 'auf', 'wir', 'zu', 'den', 'dem', 'sich', 'auch'],
	it: ['il', 'la', 'di', 'che', 'e', 'per', 'con', 'un', 'una', 'non', 'sono', 'tuo', 'tua', 'del', 'della', 'nel', 'ci', 'questo', 'ti', 'gli'],
	pt: ['o', 'a', 'os', 'as', 'de', 'que', 'e', 'do', 'da', 'em', 'um', 'uma', 'para', 'com', 'não', 'seu', 'sua', 'você', 'nos', 'mais'],
	nl: ['de', 'het', 'een', 'en', 'van', 'is', 'je', 'jouw', 'uw', 'voor', 'met', 'niet', 'op', 'wij', 'we', 'ons', 'dat', 'die', 'te', 'zijn'],
	sv: ['och', 'att', 'det', 'som', 'en', 'ett', 'är', 'för', 'med', 'du', 'din', 'ditt', 'vi', 'på', 'inte', 'av', 'till', 'den', 'har', 'om'],
	pl: ['i', 'w', 'na', 'z', 'że', 'się', 'nie', 'do', 'to', 'jest', 'dla', 'twój', 'twoja', 'jak', 'od', 'po', 'ale', 'czy', 'ten', 'tak'],
};

export const DETECTABLE_LANGUAGES = Object.keys(STOPWORDS);

export function primaryLanguage(tag: string): string {
	return tag.toLowerCase().split('-')[0];
}

/**
 * The text with each `{{…}}` (up to the first "}", which must be doubled) and each `http(s)://…` (up to
 * the next whitespace) replaced by one space: what `replace(/\{\{[^}]*\}\}|https?:\/\/\S+/g, ' ')`
 * did, in one forward scan (that regex re-read the rest of the text at every "{{" without a "}}").
 */
export function blankTagsAndUrls(text: string): string {
	const close = new NextIndex(text, '}');
	const out = new Splicer(text);
	const n = text.length;
	let i = 0;
	while (i < n) {
		const c = text.charCodeAt(i);
		let end = -1;
		if (c === 123 && text.charCodeAt(i + 1) === 123) {
			const k = close.of(i + 2);
			if (k >= 0 && text.charCodeAt(k + 1) === 125) end = k + 2;
		} else if (c === 104 && (text.startsWith('http://', i) || text.startsWith('https://', i))) {
			let stop = i + (text.charCodeAt(i + 4) === 115 ? 8 : 7);
			const rest = stop;
			while (stop < n && !isJsSpace(text.charCodeAt(stop))) stop++;
			if (stop > rest) end = stop;
		}
		if (end > 0) {
			out.replace(i, end, ' ');
			i = end;
		} else i++;
	}
	return out.result();
}

/** Stop word → the languages that list it; one pass over the words counts every language at once. */
const LANGUAGES_OF = new Map<string, string[]>();
for (const [language, list] of Object.entries(STOPWORDS))
	for (const w of new Set(list)) LANGUAGES_OF.set(w, [...(LANGUAGES_OF.get(w) ?? []), language]);

function wordsOf(text: string): string[] {
	return text.split(/[^\p{L}]+/u).filter(Boolean);
}

function stopWordHits(words: string[]): Map<string, number> {
	const hits = new Map<string, number>(DETECTABLE_LANGUAGES.map((l) => [l, 0]));
	for (const w of words) {
		const languages = LANGUAGES_OF.get(w);
		if (languages) for (const l of languages) hits.set(l, hits.get(l)! + 1);
	}
	return hits;
}

/**
 * The guess reads at most this much of a text: all of any generated copy (capped at 256 KB before it
 * gets here), and a megabyte of other text does not cost a megabyte of words.
 */
export const LANGUAGE_SAMPLE_CHARS = 256 * 1024;

/** Returns the best guess and its share of stop-word hits, or undefined when the text is too short. */
export function guessLanguage(text: string): { language: string; score: number } | undefined {
	const words = wordsOf(blankTagsAndUrls(text.slice(0, LANGUAGE_SAMPLE_CHARS).toLowerCase()));
	if (words.length < 12) return undefined;
	let best: { language: string; hits: number } | undefined;
	for (const [language, hits] of stopWordHits(words)) if (!best || hits > best.hits) best = { language, hits };
	if (!best || best.hits < 3) return undefined;
	return { language: best.language, score: best.hits / words.length };
}

/** True unless the text is clearly in another detectable language than the one requested. */
export function languageMatches(text: string, requested: string): boolean {
	const want = primaryLanguage(requested);
	if (!DETECTABLE_LANGUAGES.includes(want)) return true;
	const guess = guessLanguage(text);
	if (!guess) return true;
	if (guess.language === want) return true;
	// Close calls (short texts, shared words) are not rejected: only a clear lead for another language.
	const words = wordsOf(text.slice(0, LANGUAGE_SAMPLE_CHARS).toLowerCase());
	const wantHits = stopWordHits(words).get(want)!;
	return wantHits >= guess.score * words.length * 0.6;
}

/** A language tag the campaign schema accepts: a 2-3 letter language, then subtags of 2-8 letters or digits. */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/;

/**
 * A contact's or campaign's language value as one canonical BCP 47 tag ("EN" → "en", "pt_BR" →
 * "pt-BR", "zh-hant-tw" → "zh-Hant-TW", "deu" → "de", "iw" → "he"; Intl decides), or undefined when
 * it is not one: empty, "English", "und", a tag with extensions or private-use parts, longer than 35
 * characters. Only a value that passes reaches a prompt or a cache key.
 */
export function normalizeLanguage(value: unknown): string | undefined {
	if (typeof value !== 'string') return undefined;
	const trimmed = value.trim();
	if (!trimmed || trimmed.length > 35) return undefined;
	const raw = trimmed.split('_').join('-');
	if (!LANGUAGE_TAG.test(raw)) return undefined;
	let tag: string | undefined;
	try {
		tag = Intl.getCanonicalLocales(raw)[0];
	} catch {
		return undefined;
	}
	if (!tag || !LANGUAGE_TAG.test(tag) || primaryLanguage(tag) === 'und') return undefined;
	return tag;
}
