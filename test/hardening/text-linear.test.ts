/**
 * Linear time on any text: every exported text function in lib/ gets 5 MB strings built by repeating
 * the fragments the package's own patterns and syntax react to ("{{", "[INSERT", "<a href=", "www.",
 * "\r\n", "@"…) and random mixes of them. Each call finishes well under a second (linear code takes
 * tens of milliseconds here, a few hundred when it writes 30 MB of escapes; the old regexes took
 * hours on inputs like these), or, where a size cap protects the function, refuses at once with a
 * clear error. Tally: inputs = attacks = calls made, rejected = refusals, let_in = calls over the limit.
 */
import fc from 'fast-check';
import { escapeHtml, findMergeTags, headerSafe, renderMergeTags, unfilledPlaceholders, withHtmlKeys } from '../../lib/merge';
import { htmlToText, looksLikeHtml, textToHtml } from '../../lib/copy/format';
import { checkCopy, htmlTagCount, linksIn, sameMessageScore, sanitizeEmailHtml } from '../../lib/llm/checks';
import { linkPolicy, linkProblems, linkRefusal } from '../../lib/llm/links';
import { blankTagsAndUrls, guessLanguage, languageMatches, primaryLanguage } from '../../lib/llm/language';
import { buildCopyMessages, dataBlock, languageName, repairMessage, toneGuide } from '../../lib/llm/prompts';
import { extractJson, writeCopy } from '../../lib/llm/copywriter';
import { LlmReplyTooLargeError, normalizeLlmBaseUrl } from '../../lib/llm/client';
import type { ChatModel } from '../../lib/llm/client';
import { EventBodyError, messageIdOf, normalizeEvent, parseEventBody, storableText, suppressionFor } from '../../lib/events/normalize';
import { authVerdict, autoReplyReason, decodeBytes, envelopeFrom, fromAddress, messageIdsIn, multipartFields, parseCharsets, parseHeaderBlock, readInboundReply, xMessageIdOf } from '../../lib/events/reply';
import { escapeCsvFormula, mergeFieldName, parseColumnMap } from '../../lib/contacts/loadContacts';
import { CampaignInputError, brief as briefSchema, contact as contactSchema, isValidEmail, normalizeEmail } from '../../lib/schemas';
import { deliveryId, hashOf, variantFor } from '../../lib/ids';
import { clip, isSecretName, redactDetail, redactSecrets, redactUrl } from '../../lib/redact';
import { normalizeBaseUrl } from '../../lib/sendgrid/client';
import { unsubscribeLink } from '../../lib/sendgrid/mailRequest';
import { accountKey } from '../../lib/sendgrid/rateLimiter';
import { jsonList } from '../../lib/store/listParams';
import { parsePublicKey, publicKeyBase64 } from '../../lib/events/signature';
import { canonicalTimeZone, isValidTimeZone, parseLocalTime } from '../../lib/sequences/schedule';
import { normalizeLanguage } from '../../lib/llm/language';
import { renderDashboard } from '../../lib/stats/dashboardHtml';
import { toRecipient } from '../../lib/stages/buildEmailPayload';
import { recordTally } from '../helpers/tally';

jest.setTimeout(600_000);

const SIZE = 5 * 1024 * 1024;
/**
 * Far above what a linear pass over 5 MB takes here, far below what the quadratic regexes took (minutes
 * to hours). On a loaded machine the limit grows with a baseline measured in the same run (linear work
 * over the same 5 MB, LIMIT_FACTOR times over), so a busy CI machine stretches both alike.
 */
const LIMIT_BASE_MS = 1000;
const LIMIT_FACTOR = 25;
let LIMIT_MS = LIMIT_BASE_MS;

/** The fastest of three linear passes over the string (char codes summed, a split and a join): the machine's speed right now. */
function baselineMs(s: string): number {
	let best = Infinity;
	for (let k = 0; k < 3; k++) {
		const t0 = performance.now();
		let sum = 0;
		for (let i = 0; i < s.length; i++) sum = (sum + s.charCodeAt(i)) | 0;
		const parts = s.split('\n').join('\r\n').length;
		best = Math.min(best, performance.now() - t0 + (sum & 0) + (parts & 0));
	}
	return best;
}

/** What the package's own patterns and syntax react to. */
const FRAGMENTS = [
	'{{', '{{a|', '[INSERT', '[YOUR', '[', ']', '<%', '%>',
	'http://', 'https://x', 'href=', '<a href="x"', 'src=', 'www.', 'mailto:', '://',
	'<a ', '</a>', '<', '>', '<script>', '<li', '<br ', '<div>', '</x>', '<!--',
	'&amp;', '&#104;', '|', ' ', '\r\n', '\u2028', '.', '/', '\\', '@', '<a@', '"', "'", '=', ':', ',;',
	'Message-ID:', '```', '_', '(', '\u0000', '\u200b', '\u{1F600}', '%2e', 'the ',
	// Mixes that found slow paths before (kept so they stay found).
	'</x><div><a ', '</a>&#104; ',
];

/** The first n UTF-16 units of s, one fewer when the n-th is the first half of a surrogate pair. */
const wholeCharacters = (s: string, n: number) => {
	const last = s.charCodeAt(n - 1);
	return s.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
};
const fill = (pattern: string) => pattern.repeat(Math.ceil(SIZE / pattern.length)).slice(0, SIZE);
const mixes = fc.array(fc.constantFrom(...FRAGMENTS, '{', '}', '}}', 'é', '\t', '\n', '-', 'x', 'a@b.c', '<a href=', '[FIRST NAME'), { minLength: 2, maxLength: 6 }).map((parts) => parts.join(''));

interface Target {
	name: string;
	run: (s: string) => unknown;
	/** A clear refusal this function may throw instead of finishing (a size cap, input that is not what it reads). */
	refuses?: (e: unknown) => boolean;
	/** A refusal given as a result (checkCopy answers with one problem). */
	refusedBy?: (result: unknown) => boolean;
}

/** A plain error with a message of readable length (not a stack overflow, not a message that echoes megabytes). Node's own errors come from another realm than jest's, so no instanceof. */
const anyError = (e: unknown) => {
	const { name, message } = (e ?? {}) as { name?: unknown; message?: unknown };
	return typeof message === 'string' && message.length < 2000 && name !== 'RangeError';
};
const hugeChat: (s: string) => ChatModel = (s) => ({
	model: 'huge',
	listModels: async () => ['huge'],
	complete: async () => ({ content: s, model: 'huge', finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 1 } }),
});
const brief = briefSchema.parse({ links: ['https://acme.example/sale'] });
const prompt = (s: string) => ({ brief: { ...brief, product: s }, step: { step: 1, name: s }, previousSteps: [{ step: 1, subject: s, summary: 'x' }], tone: s, language: 'en', variant: 'A', variantIndex: 0, maxWords: 150, maxSubjectChars: 78, mergeTags: ['first_name'], contact: { first_name: s } });
const POLICY = linkPolicy(['https://acme.example/sale', 'https://acme.example/sale/spring']);
const checkContext = { allowedTags: new Set(['first_name']), allowedLinks: ['https://acme.example/sale', 'mailto:hi@acme.example'], language: 'es', maxWords: 150 };

const TARGETS: Target[] = [
	{ name: 'findMergeTags', run: (s) => findMergeTags(s) },
	{ name: 'unfilledPlaceholders', run: (s) => unfilledPlaceholders(s, new Set(['first_name'])) },
	{ name: 'escapeHtml', run: (s) => escapeHtml(s) },
	{ name: 'headerSafe', run: (s) => headerSafe(s) },
	...(['html', 'text', 'subject'] as const).map((context) => ({ name: `renderMergeTags (${context})`, run: (s: string) => renderMergeTags(s, { first_name: s }, { company: s }, context) })),
	{ name: 'withHtmlKeys', run: (s) => withHtmlKeys(s) },
	{ name: 'htmlToText', run: (s) => htmlToText(s) },
	{ name: 'textToHtml', run: (s) => textToHtml(s) },
	{ name: 'looksLikeHtml', run: (s) => looksLikeHtml(s) },
	{ name: 'htmlTagCount', run: (s) => htmlTagCount(s) },
	{ name: 'sanitizeEmailHtml', run: (s) => sanitizeEmailHtml(s), refuses: (e) => e instanceof CampaignInputError && /The email html cannot be cleaned: the html (is|has) .*; the limit is/.test(e.message) },
	{ name: 'linksIn', run: (s) => linksIn(s, s) },
	{ name: 'linkProblems', run: (s) => linkProblems(s, s, ['https://acme.example/sale']) },
	{ name: 'linkPolicy', run: (s) => linkPolicy([s, 'https://acme.example/sale']) },
	{ name: 'linkRefusal', run: (s) => linkRefusal(s, POLICY) },
	{ name: 'sameMessageScore', run: (s) => sameMessageScore(s, s) },
	{ name: 'checkCopy', run: (s) => checkCopy({ subject: s, preheader: s, html: s, text: s }, checkContext), refusedBy: (r) => /^the copy is \d+ KB; the limit is 256 KB/.test((r as string[])[0]) },
	{ name: 'checkCopy (just under its cap)', run: (s) => checkCopy({ subject: s.slice(0, 100), preheader: s.slice(0, 250), html: s.slice(0, 128 * 1024), text: s.slice(0, 120 * 1024) }, checkContext) },
	{ name: 'blankTagsAndUrls', run: (s) => blankTagsAndUrls(s) },
	{ name: 'guessLanguage', run: (s) => guessLanguage(s) },
	{ name: 'languageMatches', run: (s) => languageMatches(s, 'es') },
	{ name: 'primaryLanguage and languageName', run: (s) => [primaryLanguage(s), languageName(s)] },
	{ name: 'toneGuide', run: (s) => toneGuide(s) },
	{ name: 'dataBlock', run: (s) => dataBlock({ s }) },
	{ name: 'buildCopyMessages', run: (s) => buildCopyMessages(prompt(s)), refuses: (e) => e instanceof CampaignInputError && /The prompt data .* is \d+ KB; the limit is 512 KB/.test(e.message) },
	{ name: 'buildCopyMessages (just under its cap)', run: (s) => buildCopyMessages(prompt(s.slice(0, 100 * 1024))) },
	{ name: 'repairMessage', run: (s) => repairMessage([s, s]) },
	{ name: 'extractJson', run: (s) => extractJson(s), refuses: (e) => e instanceof LlmReplyTooLargeError },
	{ name: 'extractJson (just under its cap)', run: (s) => extractJson(s.slice(0, 60 * 1024)), refuses: anyError },
	{
		name: 'writeCopy (a 5 MB reply from the model)',
		run: (s) => writeCopy(hugeChat(s), prompt('skates'), checkContext, { backoff: { sleep: async () => undefined } }),
		refuses: (e) => e instanceof LlmReplyTooLargeError && /larger than 256 KB/.test(e.message),
	},
	{ name: 'normalizeLlmBaseUrl', run: (s) => normalizeLlmBaseUrl(s) },
	{ name: 'storableText', run: (s) => storableText(s) },
	{ name: 'parseEventBody', run: (s) => parseEventBody(s), refuses: (e) => e instanceof EventBodyError },
	// As the trigger reads a post: its bytes, in pieces between events when larger than two pieces.
	{ name: 'parseEventBody (bytes, read in pieces)', run: (s) => parseEventBody(Buffer.from(s)), refuses: (e) => e instanceof EventBodyError },
	{ name: 'parseEventBody (bytes, as an array of events)', run: (s) => parseEventBody(Buffer.from(`[{"a":${JSON.stringify(s)}},${s},{"b":1}]`)), refuses: (e) => e instanceof EventBodyError },
	{
		// One event of a 5 MB post: the string fields an attacker fills, each given the whole 5 MB.
		name: 'normalizeEvent, messageIdOf and suppressionFor (string fields)',
		run: (s) => {
			const e = normalizeEvent({ event: 'dropped', sg_event_id: 'ev1', email: s, sg_message_id: s, url: s, reason: s, category: s, campaign_id: s, timestamp: 1700000000 });
			return [messageIdOf(e.sg_message_id), suppressionFor(e)];
		},
	},
	// Without sg_event_id the event's JSON is hashed for dedupe: one 5 MB field (the JSON of six would be six times the post).
	{ name: 'normalizeEvent (no sg_event_id)', run: (s) => normalizeEvent({ event: 'open', email: 'a@example.com', url: s, timestamp: 1700000000 }) },
	// Inbound Parse replies (lib/events/reply): every field of a post is hostile text.
	{ name: 'fromAddress', run: (s) => fromAddress(s) },
	{ name: 'envelopeFrom', run: (s) => envelopeFrom(s) },
	{ name: 'messageIdsIn and xMessageIdOf', run: (s) => messageIdsIn(s).map(xMessageIdOf).concat(xMessageIdOf(s)) },
	{ name: 'parseHeaderBlock and autoReplyReason', run: (s) => autoReplyReason(parseHeaderBlock(s), s) },
	{ name: 'authVerdict', run: (s) => authVerdict(s, s, 'a@b.example') },
	{ name: 'parseCharsets', run: (s) => parseCharsets(s) },
	{ name: 'decodeBytes (Windows-1252)', run: (s) => decodeBytes(Buffer.from(s, 'latin1'), 'windows-1252') },
	{ name: 'multipartFields', run: (s) => multipartFields(Buffer.from(s), `multipart/form-data; boundary=${s.slice(0, 70)}`) },
	{ name: 'multipartFields (hostile parts)', run: (s) => multipartFields(Buffer.from(`--b\r\nContent-Disposition: form-data; name="text"\r\n\r\n${s}\r\n--b\r\n${s}\r\n\r\n${s}--b--`), 'multipart/form-data; boundary=b') },
	{ name: 'readInboundReply (parsed fields)', run: (s) => readInboundReply({ from: s, to: s, subject: s, text: s, html: s, headers: s, envelope: s, SPF: s, dkim: s, charsets: s }) },
	{ name: 'readInboundReply (raw MIME)', run: (s) => readInboundReply({ email: `From: a@b.example\r\nIn-Reply-To: ${s.slice(0, 100_000)}\r\nSubject: ${s.slice(0, 100_000)}\r\n\r\n${s}` }) },
	{ name: 'mergeFieldName', run: (s) => mergeFieldName(s) },
	{ name: 'escapeCsvFormula', run: (s) => escapeCsvFormula(s) },
	{ name: 'parseColumnMap', run: (s) => parseColumnMap(s), refuses: anyError },
	{ name: 'normalizeEmail and isValidEmail', run: (s) => isValidEmail(normalizeEmail(s)) },
	{ name: 'deliveryId, variantFor and hashOf', run: (s) => [deliveryId(s, 1, s), variantFor(s, s, 5), hashOf({ s })] },
	{ name: 'redactSecrets', run: (s) => redactSecrets(s, [s.slice(0, 40)]) },
	{ name: 'redactUrl', run: (s) => redactUrl(s) },
	{ name: 'redactDetail', run: (s) => redactDetail(s) },
	{ name: 'clip and isSecretName', run: (s) => [clip(s, 100), isSecretName(s)] },
	{ name: 'normalizeBaseUrl (SendGrid)', run: (s) => normalizeBaseUrl(s), refuses: anyError },
	// Its base is the campaign's validated unsubscribe URL and its ids are short; the hostile part is a long query
	// (cut where it does not split a surrogate pair: the test's own encodeURIComponent refuses half an emoji).
	{ name: 'unsubscribeLink', run: (s) => unsubscribeLink(`https://acme.example/u?x=${encodeURIComponent(wholeCharacters(s, 64 * 1024))}`, { email: 'a@example.com', delivery_id: 'd1', fields: {} }, 'c1', 1) },
	{ name: 'accountKey', run: (s) => accountKey(s, s) },
	// A list parameter's JSON for Postgres: the text, and the text then a lone surrogate, so the escape rewrite runs over all of it.
	{ name: 'jsonList', run: (s) => jsonList([s, `${s}\ud800`, null]) },
	// A credential field pasted by the workflow's owner, not hostile text: 64 KB is far beyond any key (about 5 MB takes it over a second).
	{ name: 'publicKeyBase64 and parsePublicKey (64 KB)', run: (s) => [publicKeyBase64(s.slice(0, 64 * 1024)), parsePublicKey(s.slice(0, 64 * 1024))], refuses: anyError },
	{ name: 'isValidTimeZone', run: (s) => isValidTimeZone(s) },
	{ name: 'normalizeLanguage, canonicalTimeZone and parseLocalTime (a contact\'s language and time zone fields)', run: (s) => [normalizeLanguage(s), canonicalTimeZone(s), parseLocalTime(s)] },
	// Contacts reach toRecipient through the contact schema, which caps each field at 10,000 characters.
	{ name: 'toRecipient (through the contact schema)', run: (s) => toRecipient('c1', 1, contactSchema.parse({ email: 'a@example.com', first_name: s, name: s })), refuses: (e) => e instanceof Error && /at most 10000 characters/.test(e.message) },
	{ name: 'toRecipient (fields at the schema cap)', run: (s) => toRecipient('c1', 1, contactSchema.parse({ email: 'a@example.com', first_name: s.slice(0, 10_000), last_name: s.slice(0, 10_000), name: s.slice(0, 10_000) })), refuses: (e) => e instanceof Error && /invalid|characters|must/i.test(e.message) },
	{ name: 'renderDashboard (title)', run: (s) => renderDashboard({ generated_at: 'now', campaigns: [], runs: [], steps: [], ab: [], recent: [], suppressions: [] }, s) },
	{
		name: 'renderDashboard (a stored error text)',
		run: (s) => renderDashboard({ generated_at: 'now', campaigns: [{ id: 'c1', name: 'Spring', status: 'done', created_at: 'now' }], runs: [], steps: [], ab: [], recent: [{ email: 'a@example.com', campaign_id: 'c1', step: 1, variant: 'A', status: 'failed', error: s, updated_at: 'now' }], suppressions: [] }),
	},
];

let calls = 0;
let refusals = 0;
let slow = 0;
afterAll(() => recordTally({ suite: 'text: linear time', inputs: calls, attacks: calls, rejected: refusals, let_in: slow }));

/** Every target on one 5 MB string built from `pattern`: each finishes, or refuses as it may, within the limit. */
async function tryAll(pattern: string): Promise<string[]> {
	const s = fill(pattern);
	LIMIT_MS = Math.max(LIMIT_BASE_MS, Math.round(baselineMs(s) * LIMIT_FACTOR));
	const failures: string[] = [];
	for (const t of TARGETS) {
		calls++;
		let outcome = await timed(t, s);
		// A major collection of the previous call's garbage can land in this one: measure once more after
		// collecting it. Super-linear work is slow both times.
		if (outcome.ms >= LIMIT_MS) {
			collectGarbage();
			outcome = await timed(t, s);
		}
		const { ms, result, refused } = outcome;
		const what = `${t.name} on ${JSON.stringify(pattern)} × ${Math.ceil(SIZE / pattern.length)}`;
		// Still over the limit: linear work that allocates a lot (an escaped copy several times the input)
		// on a loaded machine, or super-linear work? A quarter of the input tells: linear takes about a
		// quarter of the time, quadratic a sixteenth.
		if (ms >= LIMIT_MS && ms / (await quarterMs(t, s)) < SUPERLINEAR_RATIO) outcome.ms = 0;
		if (outcome.ms >= LIMIT_MS) {
			slow++;
			failures.push(`${what}: ${ms} ms`);
		}
		if (refused === undefined) {
			if (t.refusedBy?.(result)) refusals++;
			continue;
		}
		if (t.refuses?.(refused)) refusals++;
		else failures.push(`${what}: threw ${String((refused as Error)?.stack ?? refused).slice(0, 300)}`);
	}
	return failures;
}

/** Time on 4× the input over time on the input: about 4 for linear work, 16 for quadratic. */
const SUPERLINEAR_RATIO = 9;

/** The faster of two runs on the first quarter of the input. */
async function quarterMs(t: Target, s: string): Promise<number> {
	const quarter = s.slice(0, Math.floor(s.length / 4));
	collectGarbage();
	const a = (await timed(t, quarter)).ms;
	collectGarbage();
	return Math.max(1, Math.min(a, (await timed(t, quarter)).ms));
}

/**
 * The call's time: the smaller of wall-clock time and this process's CPU time. Other processes on a
 * shared machine stretch the first, the collector's helper threads the second; work that grows
 * faster than the input stretches both.
 */
async function timed(t: Target, s: string): Promise<{ ms: number; result?: unknown; refused?: unknown }> {
	const cpu0 = process.cpuUsage();
	const t0 = performance.now();
	const took = () => {
		const cpu = process.cpuUsage(cpu0);
		return Math.round(Math.min(performance.now() - t0, (cpu.user + cpu.system) / 1000));
	};
	try {
		const result = await t.run(s);
		return { ms: took(), result };
	} catch (refused) {
		return { ms: took(), refused: refused ?? 'undefined' };
	}
}

function collectGarbage(): void {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	require('node:v8').setFlagsFromString('--expose-gc');
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	(require('node:vm').runInNewContext('gc') as () => void)();
}

describe('text: linear time on 5 MB of hostile text', () => {
	it('every text function finishes or refuses within a second on each fragment repeated to 5 MB', async () => {
		const failures: string[] = [];
		for (const fragment of FRAGMENTS) failures.push(...(await tryAll(fragment)));
		expect(failures).toEqual([]);
	});

	it('and on random mixes of the fragments', async () => {
		await fc.assert(
			fc.asyncProperty(mixes, async (pattern) => expect(await tryAll(pattern)).toEqual([])),
			{ numRuns: 8, endOnFailure: true },
		);
	});

	it('the size caps refuse what they are there for', async () => {
		// Not a vacuous pass: these do refuse, fast, with the message a user can act on.
		const tags = fill('<div>');
		const t0 = performance.now();
		expect(() => sanitizeEmailHtml(tags)).toThrow(/The email html cannot be cleaned: the html is 5120 KB; the limit is 512 KB/);
		expect(() => sanitizeEmailHtml(tags.slice(0, 500 * 1024))).toThrow(/The email html cannot be cleaned: the html has 102400 tags; the limit is 5000/);
		expect(checkCopy({ subject: 'Hi', preheader: '', html: tags, text: 'Hi' }, checkContext)).toEqual(['the copy is 5121 KB; the limit is 256 KB — write a much shorter email']);
		expect(() => buildCopyMessages(prompt(tags))).toThrow(/The prompt data \(brief, step, previous steps, tone and contact fields\) is \d+ KB; the limit is 512 KB/);
		expect(() => parseEventBody(fill('['))).toThrow(/body nests deeper than 16 levels/);
		expect(() => parseEventBody(Buffer.from(`[{"a":1},${fill('[')}`))).toThrow(/body nests deeper than 16 levels/);
		await expect(writeCopy(hugeChat(fill('x')), prompt('skates'), checkContext)).rejects.toThrow(/The LLM reply was larger than 256 KB; raise the LLM reply limit \(maxReplyBytes\) or lower Max Body Words/);
		expect(performance.now() - t0).toBeLessThan(LIMIT_MS);
	});
});
