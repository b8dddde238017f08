/** SendGrid events as they really arrive (and as they arrive broken): one flat shape, nothing useful dropped, nothing thrown. */
import fc from 'fast-check';
import { BODY_PIECE_BYTES, normalizeEvent, parseEventBody, suppressionFor, messageIdOf, MAX_EXTRA_KEYS } from '../../lib/events/normalize';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const base = { email: 'a@x.io', event: 'delivered', sg_event_id: 'e1', sg_message_id: 'XID.filter-1' };

describe('timestamps in any shape: normalised, or the time received with the problem said', () => {
	it.each([
		['Unix seconds', 1700000000, '2023-11-14T22:13:20.000Z', false],
		['Unix seconds with a fraction', 1700000000.5, '2023-11-14T22:13:20.500Z', false],
		['milliseconds', 1700000000123, '2023-11-14T22:13:20.123Z', true],
		['microseconds', 1700000000123456, '2023-11-14T22:13:20.123Z', true],
		['a numeric string', '1700000000', '2023-11-14T22:13:20.000Z', false],
		['an ISO string', '2023-11-14T22:13:20Z', '2023-11-14T22:13:20.000Z', true],
	])('%s', (_what, timestamp, iso, noted) => {
		const e = normalizeEvent({ ...base, timestamp }, { now: NOW });
		expect(e.timestamp).toBe(iso);
		expect(e.problems?.some((p) => p.startsWith('timestamp'))).toBe(noted || undefined);
	});

	it.each([
		['out of range', 1e300],
		['far in the future', NOW / 1000 + 365 * 86400],
		['negative', -5],
		['zero', 0],
		['NaN', Number.NaN],
		['an object', { $date: 1 }],
		['an array', [1700000000]],
		['a boolean', true],
		['not a date', 'yesterday-ish'],
		['missing', undefined],
	])('%s: the time received, noted', (_what, timestamp) => {
		const e = normalizeEvent({ ...base, timestamp }, { now: NOW });
		expect(e.timestamp).toBe(new Date(NOW).toISOString());
		expect(e.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^timestamp: .*the time received is used$/)]));
	});
});

describe('odd fields never throw and never reach a typed column unchecked', () => {
	it('missing or odd email, step and group: left out, said in problems', () => {
		const e = normalizeEvent({ event: 'open', timestamp: 1700000000, sg_event_id: 'x', step: 1e12, asm_group_id: 'abc' }, { now: NOW });
		expect(e.email).toBe('');
		expect(e.step).toBeUndefined();
		expect(e.asm_group_id).toBeUndefined();
		expect(e.problems).toEqual(expect.arrayContaining(['email: missing', 'step: not a whole number from 1, left out']));
		expect(normalizeEvent({ ...base, email: { a: 1 }, timestamp: 1700000000 }, { now: NOW }).problems).toContain('email: not a text');
		expect(normalizeEvent({ ...base, step: '3', timestamp: 1700000000 }, { now: NOW }).step).toBe(3);
	});

	it('an sg_event_id that is not a text or number: the event is keyed by its own hash, stable across re-posts', () => {
		const a = normalizeEvent({ ...base, sg_event_id: { id: 1 }, timestamp: 1700000000 }, { now: NOW });
		const b = normalizeEvent({ ...base, sg_event_id: { id: 1 }, timestamp: 1700000000 }, { now: NOW });
		expect(a.sg_event_id).toMatch(/^h:/);
		expect(a.sg_event_id).toBe(b.sg_event_id);
	});
});

describe('nothing useful dropped, all of it bounded', () => {
	it('keeps delivery details, engagement details, Marketing Campaigns / Single Send / template ids and custom args', () => {
		const e = normalizeEvent(
			{
				...base,
				event: 'click',
				timestamp: 1700000000,
				response: '250 OK',
				attempt: '5',
				reason: '400 try again later',
				status: '4.0.0',
				type: 'blocked',
				bounce_classification: 'Technical',
				ip: '192.0.2.1',
				useragent: 'Mozilla/5.0',
				url: 'https://x.io/a',
				url_offset: { index: 1, type: 'html' },
				tls: 1,
				cert_err: 0,
				pool: { name: 'new_MY_test', id: 210 },
				asm_group_id: 12,
				marketing_campaign_id: 12345,
				marketing_campaign_name: 'spring',
				singlesend_id: 'ss-1',
				template_id: 'd-123',
				order_id: 'PO-1',
				nested: { a: [1, 2] },
			},
			{ now: NOW },
		);
		expect(e).toMatchObject({
			response: '250 OK',
			attempt: '5',
			reason: '400 try again later',
			status: '4.0.0',
			type: 'blocked',
			bounce_classification: 'Technical',
			ip: '192.0.2.1',
			useragent: 'Mozilla/5.0',
			url_offset: { index: 1, type: 'html' },
			tls: 1,
			cert_err: 0,
			pool: { name: 'new_MY_test', id: 210 },
			asm_group_id: 12,
			marketing_campaign_id: 12345,
			marketing_campaign_name: 'spring',
			singlesend_id: 'ss-1',
			template_id: 'd-123',
			extra: { order_id: 'PO-1', nested: '{"a":[1,2]}' },
		});
		expect(e.problems).toBeUndefined();
	});

	it('a hostile post cannot grow memory: texts cut, extra keys counted past the limit, categories capped', () => {
		const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 'v'.repeat(10)]));
		const e = normalizeEvent({ ...base, timestamp: 1700000000, ...many, useragent: 'u'.repeat(1_000_000), category: Array.from({ length: 1000 }, () => 'c'.repeat(10_000)), ['x'.repeat(10_000)]: 1 }, { now: NOW });
		expect(Object.keys(e.extra!)).toHaveLength(MAX_EXTRA_KEYS);
		expect(e.problems).toEqual(expect.arrayContaining([expect.stringMatching(/^extra: \d+ more fields left out/)]));
		expect(e.useragent!.length).toBeLessThanOrEqual(1000);
		expect(e.category!.length).toBeLessThanOrEqual(10);
		expect(JSON.stringify(e).length).toBeLessThan(40_000);
	});
});

describe('drops filed by reason (one table)', () => {
	const drop = (reason: string, extra: Record<string, unknown> = {}) => suppressionFor(normalizeEvent({ ...base, event: 'dropped', timestamp: 1700000000, reason, ...extra }, { now: NOW }));
	it.each([
		['Bounced Address', { scope: 'global', reason: 'dropped' }],
		['Invalid', { scope: 'global', reason: 'dropped' }],
		['Unsubscribed Address', { scope: 'global', reason: 'unsubscribe' }],
		['Spam Reporting Address', { scope: 'global', reason: 'spamreport' }],
		['Invalid SMTPAPI header', undefined],
		['Spam Content (if spam checker app enabled)', undefined],
		['Recipient List over Package Quota', undefined],
		['Something SendGrid adds later', undefined],
	])('%s', (reason, effect) => {
		expect(drop(reason)).toEqual(effect);
	});
	it('a drop for an unsubscribe of the message\'s group suppresses that group only', () => {
		expect(drop('Unsubscribed Address', { asm_group_id: 7 })).toEqual({ scope: 'group:7', reason: 'unsubscribe' });
	});
});

it('as a map() callback the index is not taken for a clock', () => {
	const [e] = [{ ...base, timestamp: 1700000000 }].map(normalizeEvent);
	expect(e.timestamp).toBe('2023-11-14T22:13:20.000Z');
	expect(e.problems).toBeUndefined();
});

it('the X-Message-Id of an sg_message_id, in the old dotted form too', () => {
	expect(messageIdOf('14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0')).toBe('14c5d75ce93.dfd.64b469');
	expect(messageIdOf('W6JRfgtlSnWlsr3NGi-0zQ.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0')).toBe('W6JRfgtlSnWlsr3NGi-0zQ');
	expect(messageIdOf('abc123.recvd-5f54b5d587-fmq7b-1-5FF0C04A-4.0')).toBe('abc123');
});

describe('a large post is parsed in pieces: the same events, or the same refusal, as the whole text', () => {
	// Read as the trigger gets it (bytes) with pieces of a few bytes, so every cut between events is tried, against the text parsed whole.
	const whole = (text: string): unknown => {
		try {
			return parseEventBody(Buffer.from(text), Infinity);
		} catch (e) {
			return `${(e as Error).constructor.name}: ${(e as Error).message}`;
		}
	};
	const inPieces = (text: string, bytes: number): unknown => {
		try {
			return parseEventBody(Buffer.from(text), bytes);
		} catch (e) {
			return `${(e as Error).constructor.name}: ${(e as Error).message}`;
		}
	};
	const valid = [
		'[{"a":"x,y]}"},{"b":"\\\\"},{"c":"\\\\\\"],"},{"d":"\\"\\\\\\""}]',
		' \n[ {"a":1} , {"b":[1,{"c":2}]} ,{"d":"é€𝄞,"}, {"e":null}\t]\r\n',
		'[{"a":{"b":{"c":[[],{}]}}},{"x":"]"},{"y":"["},{"z":","}]',
		'[]',
		'[ ]',
	];
	const refused = [
		'[{"a":1},]',
		'[{"a":1},,{"b":2}]',
		'[,{"a":1}]',
		'[{"a":1}, {"b":2}, ]',
		'[{"a":1}]x',
		'\ufeff[{"a":1}]',
		'[{"a":1}',
		'[{"a":1}]]',
		'[{"a":1}],[{"b":2}]',
		'[{"a":"1}]',
		'[{"a":1},{"b":2]',
		'[{"a":1},{"b":2}}]',
		'[{"a":1},2,{"b":2}]',
		'[{"a":1},[],{"b":2}]',
		'{"a":[1,2]}',
		`[{"a":1},${'['.repeat(20)}${']'.repeat(20)}]`,
		`[{"a":1},{"b":"${'\\'.repeat(7)}"}]`,
	];
	it.each([...valid, ...refused])('%s', (text) => {
		const expected = whole(text);
		for (let bytes = 1; bytes <= 12; bytes++) expect(inPieces(text, bytes)).toEqual(expected);
	});

	it('and for random posts (events with quotes, backslashes, brackets, commas and non-ASCII in their strings), cut anywhere', () => {
		const text = fc.string({ unit: fc.constantFrom('a', ',', '"', '\\', '[', ']', '{', '}', 'é', '𝄞', ' '), maxLength: 12 });
		const event = fc.dictionary(text, fc.oneof(text, fc.integer(), fc.array(text, { maxLength: 3 }), fc.dictionary(text, text, { maxKeys: 2 })), { maxKeys: 4 });
		fc.assert(
			fc.property(fc.array(event, { maxLength: 8 }), fc.integer({ min: 1, max: 40 }), fc.constantFrom(undefined, 1, '\t'), (events, bytes, indent) => {
				const post = JSON.stringify(events, null, indent);
				expect(inPieces(post, bytes)).toEqual(whole(post));
				expect(inPieces(post, bytes)).toEqual(events.map((e) => JSON.parse(JSON.stringify(e))));
			}),
			{ numRuns: 300 },
		);
		// Broken by one character taken out or put in: refused in the same words, or read the same.
		fc.assert(
			fc.property(fc.array(event, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 40 }), fc.nat(), fc.constantFrom('', ',', '"', '\\', '[', ']', '{', '}', ' ', 'x'), (events, bytes, at, put) => {
				const post = JSON.stringify(events);
				const i = at % post.length;
				const broken = post.slice(0, i) + put + post.slice(put === '' ? i + 1 : i);
				expect(inPieces(broken, bytes)).toEqual(whole(broken));
			}),
			{ numRuns: 500 },
		);
	});

	it('a post of 1,000 events read in pieces of the default size gives every event', () => {
		const events = Array.from({ length: 1000 }, (_, i) => ({ ...base, sg_event_id: `e${i}`, url: `https://x.io/?a=${i},"b"` }));
		const raw = Buffer.from(JSON.stringify(events));
		expect(raw.length).toBeGreaterThan(2 * BODY_PIECE_BYTES);
		expect(parseEventBody(raw)).toEqual(events);
	});
});
