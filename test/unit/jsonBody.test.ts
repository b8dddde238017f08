import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jsonBuffer } from '../../lib/sendgrid/jsonBody';
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
});
