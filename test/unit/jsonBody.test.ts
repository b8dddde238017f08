import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyPoolState, jsonBuffer, leaseJsonBuffer } from '../../lib/sendgrid/jsonBody';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';

describe('jsonBuffer: a body written a member at a time is JSON.stringify byte for byte', () => {
	const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, b: [1, { c: 'x' }] });
	const cases: Array<[string, unknown]> = [
		['mail body', { personalizations: [{ to: [{ email: 'a@x.example', name: 'Zoë "Z" \\ Ünïcødé 😀' }], custom_args: { k: 'v' } }], from: { email: 'f@x.example' }, content: [{ type: 'text/plain', value: 'line\nbreak\u2028\u0000' }] }],
		['undefined and functions are left out of objects and null in arrays', { a: undefined, b: () => 1, c: Symbol('s'), d: [undefined, () => 1, Symbol('t'), 2], e: { f: undefined, g: 1 } }],
		['toJSON, Dates and boxed values are written as JSON.stringify writes them', { at: new Date(0), custom: { toJSON: () => ({ replaced: true }) }, n: Object(3) as unknown, s: Object('str') as unknown, list: [new Date(1), { toJSON: () => 'x' }] }],
		['a top-level toJSON wins', { toJSON: () => [1, 2, 3], ignored: true }],
		['numbers, NaN and Infinity', { a: [0, -0, 1.5e300, NaN, Infinity, -Infinity], b: null, c: true }],
		['empty containers', { a: {}, b: [], c: [[]], d: [{}] }],
		['deep nesting', { a: [{ b: [{ c: [{ d: 'deep' }] }] }] }],
		['a null-prototype object', { x: nullProto }],
		['lone surrogates', { s: '\ud800x\udc00' }],
		['top-level array', [1, 'two', { three: 3 }, undefined]],
		['top-level scalars', 'just a string'],
		['top-level null', null],
	];
	it.each(cases)('%s', (_, value) => {
		expect(jsonBuffer(value).toString('utf8')).toBe(JSON.stringify(value));
	});

	it('a 1,000-personalization body', () => {
		const body = { personalizations: Array.from({ length: 1000 }, (_, i) => ({ to: [{ email: `u${i}@x.example`, name: `Ü ${i}` }], custom_args: { delivery_id: `d${i}`.repeat(10) }, headers: { 'List-Unsubscribe': `<https://u.example/${i}>` } })), from: { email: 'f@x.example' }, subject: 'Hi' };
		const buf = jsonBuffer(body);
		expect(buf.length).toBe(Buffer.byteLength(JSON.stringify(body)));
		expect(buf.toString('utf8')).toBe(JSON.stringify(body));
	});

	it('a body after a bigger one is exactly its own bytes (the write buffer is reused), and each body is its own Buffer', () => {
		const big = jsonBuffer({ list: Array.from({ length: 5000 }, (_, i) => ({ i, s: 'x'.repeat(100) })) });
		const small = jsonBuffer({ a: 'ü' });
		expect(small.toString('utf8')).toBe('{"a":"ü"}');
		expect(small.length).toBe(Buffer.byteLength('{"a":"ü"}'));
		expect(small.buffer).not.toBe(big.buffer);
		expect(JSON.parse(big.toString('utf8')).list).toHaveLength(5000);
		expect(() => jsonBuffer({ bad: [BigInt(2)] })).toThrow(TypeError);
		expect(jsonBuffer([1, 2]).toString()).toBe('[1,2]');
	});

	it('refuses what JSON.stringify refuses (a BigInt), not a silent drop', () => {
		expect(() => jsonBuffer({ personalizations: [{ n: BigInt(1) }] })).toThrow(TypeError);
	});
});

describe('leased body buffers: reused after an answered request, never while one is out', () => {
	afterEach(() => jest.useRealTimers());

	it('a reused buffer carries exactly the next body, a buffer out now is never handed out again, a dropped one is not reused', () => {
		const big = { list: Array.from({ length: 3000 }, (_, i) => ({ i, s: 'y'.repeat(80) })) };
		const a = leaseJsonBuffer(big);
		const b = leaseJsonBuffer({ b: 'ü' });
		expect(b.body.buffer).not.toBe(a.body.buffer);
		expect(bodyPoolState().leased).toBeGreaterThanOrEqual(2);
		expect(a.body.toString('utf8')).toBe(JSON.stringify(big));
		a.reuse();
		a.reuse(); // a second call gives nothing back twice
		const c = leaseJsonBuffer({ c: [1, 2, 3] });
		expect(c.body.buffer).toBe(a.body.buffer);
		expect(c.body.toString('utf8')).toBe('{"c":[1,2,3]}');
		expect(b.body.toString('utf8')).toBe('{"b":"ü"}');
		const bBuffer = b.body.buffer;
		b.drop();
		c.reuse();
		const d = leaseJsonBuffer({ d: 1 });
		const e = leaseJsonBuffer({ e: 2 });
		expect([d.body.buffer, e.body.buffer]).not.toContain(bBuffer);
		d.reuse();
		e.reuse();
		expect(bodyPoolState().leased).toBe(0);
	});

	it('a body that cannot be written (a BigInt) gives its buffer back and throws', () => {
		const before = bodyPoolState().leased;
		expect(() => leaseJsonBuffer({ n: BigInt(1) })).toThrow(TypeError);
		expect(bodyPoolState().leased).toBe(before);
	});

	it('an idle pool is emptied, so an idle n8n keeps no body buffers', () => {
		jest.useFakeTimers();
		const a = leaseJsonBuffer({ a: 1 });
		a.reuse();
		expect(bodyPoolState()).toEqual({ pooled: expect.any(Number), leased: 0 });
		expect(bodyPoolState().pooled).toBeGreaterThan(0);
		jest.advanceTimersByTime(9_000);
		expect(bodyPoolState().pooled).toBeGreaterThan(0);
		jest.advanceTimersByTime(2_000);
		expect(bodyPoolState().pooled).toBe(0);
	});
});

describe('the SendGrid transport sends bodies as that JSON', () => {
	it('the server receives JSON.stringify(body) with Content-Type application/json, and GETs carry no body', async () => {
		const seen: Array<{ method?: string; type?: string; length?: string; body: string }> = [];
		const server = createServer((req, res) => {
			const parts: Buffer[] = [];
			req.on('data', (d: Buffer) => parts.push(d));
			req.on('end', () => {
				seen.push({ method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body: Buffer.concat(parts).toString('utf8') });
				res.writeHead(req.method === 'GET' ? 200 : 202, { 'content-type': 'application/json' }).end(req.method === 'GET' ? '{"ok":true}' : '');
			});
		});
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
		try {
			const t = createSendGridTransport({ apiKey: 'SG.test', baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
			const body = { personalizations: [{ to: [{ email: 'a@x.example', name: 'Ünï 😀' }], custom_args: { a: '1' } }], from: { email: 'f@x.example' }, subject: 'S', content: [{ type: 'text/plain', value: 'x' }] } as MailSendBody;
			expect((await t.sendMail(body)).status).toBe(202);
			expect((await t.request('GET', '/v3/templates')).body).toEqual({ ok: true });
			expect(seen[0]).toEqual({ method: 'POST', type: 'application/json', length: String(Buffer.byteLength(JSON.stringify(body))), body: JSON.stringify(body) });
			expect(seen[1]).toMatchObject({ method: 'GET', body: '' });
		} finally {
			await new Promise((r) => server.close(r));
		}
	});
	it('bodies in flight at once each arrive whole, a reused buffer carries the next body exactly, and failed requests return nothing to the pool', async () => {
		const received: string[] = [];
		let hold: Array<() => void> = [];
		const server = createServer((req, res) => {
			const parts: Buffer[] = [];
			req.on('data', (d: Buffer) => parts.push(d));
			req.on('end', () => {
				const text = Buffer.concat(parts).toString('utf8');
				received.push(text);
				const fail = (JSON.parse(text) as { subject: string }).subject.startsWith('fail');
				// Every request waits until all of a round are in flight, so no buffer can be reused before the others are read.
				hold.push(() => res.writeHead(fail ? 500 : 202, { 'content-type': 'application/json' }).end(fail ? '{"errors":[{"message":"boom"}]}' : ''));
			});
		});
		await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
		const release = () => {
			const h = hold;
			hold = [];
			h.forEach((f) => f());
		};
		try {
			const t = createSendGridTransport({ apiKey: 'SG.test', baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 10_000 });
			const body = (round: number, i: number, n: number, subject = `r${round}-${i}`) =>
				({ personalizations: Array.from({ length: n }, (_, k) => ({ to: [{ email: `u${k}@r${round}.example`, name: `Ü${i}-${k}` }] })), from: { email: 'f@x.example' }, subject, content: [{ type: 'text/plain', value: 'x' }] }) as MailSendBody;
			for (let round = 0; round < 3; round++) {
				// Sizes change between rounds (a reused buffer is longer than the next body), and two requests of each round fail.
				const bodies = Array.from({ length: 8 }, (_, i) => body(round, i, round === 1 ? 3 : 400 + i * 37, i >= 6 ? `fail-${round}-${i}` : undefined));
				const sends = bodies.map((b) => t.sendMail(b).then((r) => r.status, (e: Error) => e.message));
				while (received.length < (round + 1) * 8) await new Promise((r) => setTimeout(r, 5));
				expect(bodyPoolState().leased).toBe(8);
				release();
				const statuses = await Promise.all(sends);
				expect(statuses.slice(0, 6)).toEqual(Array(6).fill(202));
				expect(statuses.slice(6).every((s) => typeof s === 'string' && /500|boom/.test(s))).toBe(true);
				expect(received.slice(round * 8).sort()).toEqual(bodies.map((b) => JSON.stringify(b)).sort());
				expect(bodyPoolState().leased).toBe(0);
				// The six answered requests' buffers are back for the next round; the failed ones' are not.
				expect(bodyPoolState().pooled).toBe(6);
			}
		} finally {
			release();
			await new Promise((r) => server.close(r));
		}
	});
});
