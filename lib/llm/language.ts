/**
 * A small stop-word language guess, enough to catch copy written in the wrong language
 * (e.g. English copy for a Spanish campaign). Unknown languages are never rejected.
 */
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

/** Returns the best guess and its share of stop-word hits, or undefined when the text is too short. */
export function guessLanguage(text: string): { language: string; score: number } | undefined {
	const words = text
		.toLowerCase()
		.replace(/\{\{[^}]*\}\}|https?:\/\/\S+/g, ' ')
		.split(/[^\p{L}]+/u)
		.filter(Boolean);
	if (words.length < 12) return undefined;
	let best: { language: string; hits: number } | undefined;
	for (const [language, list] of Object.entries(STOPWORDS)) {
		const set = new Set(list);
		const hits = words.filter((w) => set.has(w)).length;
		if (!best || hits > best.hits) best = { language, hits };
	}
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
	const wantSet = new Set(STOPWORDS[want]);
	const words = text.toLowerCase().split(/[^\p{L}]+/u).filter(Boolean);
	const wantHits = words.filter((w) => wantSet.has(w)).length;
	return wantHits >= guess.score * words.length * 0.6;
}
