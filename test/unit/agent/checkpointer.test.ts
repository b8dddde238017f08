/** The checkpoint serializer's fast path: plain data as JSON.stringify writes it, everything else as LangGraph's JsonPlusSerializer. */
import { JsonPlusSerializer } from '@langchain/langgraph-checkpoint';
import { CheckpointSerializer, isPlainJson } from '../../../lib/agent/checkpointer';

const ours = new CheckpointSerializer();
const reference = new JsonPlusSerializer();
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('CheckpointSerializer', () => {
	it('writes plain data as JsonPlusSerializer does, and it loads back equal', async () => {
		const values: unknown[] = [
			{ payloads: [{ campaign_id: 'c', step: 1, recipients: [{ email: 'a@x.org', fields: { first_name: 'Ä "q" \\ \u2028' } }] }], results: [], paused: null },
			[1, -0, 2.5, NaN, Infinity, 'x', true, null, { nested: [[]] }],
			Object.assign(Object.create(null), { a: 1 }),
			'just a string',
			0,
		];
		for (const v of values) {
			const [type, bytes] = await ours.dumpsTyped(v);
			const [refType, refBytes] = await reference.dumpsTyped(v);
			expect(type).toBe(refType);
			expect(text(bytes)).toBe(text(refBytes));
			expect(await reference.loadsTyped(type, bytes)).toEqual(await reference.loadsTyped(refType, refBytes));
		}
	});

	it('leaves out an object property that is undefined; loaded, the object reads the same', async () => {
		const v = { payloads: [{ reply_to: undefined, step: 1 }] };
		const [type, bytes] = await ours.dumpsTyped(v);
		expect(text(bytes)).toBe('{"payloads":[{"step":1}]}');
		const loaded = (await reference.loadsTyped(type, bytes)) as typeof v;
		expect(loaded.payloads[0].reply_to).toBeUndefined();
		expect(loaded).toEqual(await reference.loadsTyped(...(await reference.dumpsTyped(v))));
	});

	it('hands everything JsonPlusSerializer treats specially to it, byte for byte', async () => {
		class Thing {
			a = 1;
		}
		const cyclic: Record<string, unknown> = { a: 1 };
		cyclic.self = cyclic;
		const special: unknown[] = [
			undefined,
			[1, undefined, 3],
			[1, , 3],
			{ s: new Set([1, 2]) },
			{ m: new Map([['k', 1]]) },
			{ d: new Date(0) },
			{ e: new Error('boom') },
			{ r: /x+/g },
			{ u: new Uint8Array([1, 2]) },
			{ t: new Thing() },
			{ toJSON: () => 'x' },
			{ lg_name: 'Send', node: 'n', args: {} },
			{ n: 1n },
			{ f: () => 1 },
			cyclic,
		];
		for (const v of special) {
			expect(isPlainJson(v)).toBe(false);
			let refDump: [string, Uint8Array] | Error;
			try {
				refDump = await reference.dumpsTyped(v);
			} catch (e) {
				refDump = e as Error;
			}
			if (refDump instanceof Error) await expect(ours.dumpsTyped(v)).rejects.toThrow(refDump.message);
			else {
				const [type, bytes] = await ours.dumpsTyped(v);
				expect(type).toBe(refDump[0]);
				expect(text(bytes)).toBe(text(refDump[1]));
			}
		}
		// Bytes stay bytes.
		const raw = new Uint8Array([1, 2, 3]);
		expect(await ours.dumpsTyped(raw)).toEqual(['bytes', raw]);
	});

	it('stops at the depth limit (deep or cyclic data goes the JsonPlusSerializer way)', () => {
		let deep: unknown = 'leaf';
		for (let i = 0; i < 300; i++) deep = { d: deep };
		expect(isPlainJson(deep)).toBe(false);
		expect(isPlainJson(deep, 400)).toBe(true);
	});
});
