/**
 * Is n8n's main process a different place for JavaScript than a plain Node 24 process? Starts n8n with
 * the inspector on, and runs the same probe there (through the DevTools protocol, in n8n's main realm,
 * where the package's code runs) and in a plain Node 24 process: which intrinsics are frozen or
 * changed, and the time of property writes, array pushes, Map sets, JSON, HMAC...
 *
 * `npx tsx bench/realmProbe.ts`
 */
import { spawnSync } from 'node:child_process';
import { startN8nWithPackage, freePort } from '../test/e2e/n8n';
import { ensureNode24 } from '../scripts/n8n';

/** Self-contained: runs as a string in either process; returns a JSON string. */
const PROBE = String.raw`(() => {
	const intrinsics = { Object, Array, Function, String, Number, Promise, Map, Set, Error, RegExp, Date };
	const frozen = {};
	for (const [k, v] of Object.entries(intrinsics)) frozen[k] = { ctor: Object.isFrozen(v), proto: Object.isFrozen(v.prototype), extensible: Object.isExtensible(v.prototype) };
	const ownKeys = (o) => Reflect.ownKeys(o).map(String).sort();
	const objectProtoKeys = ownKeys(Object.prototype);
	const accessorsOnObjectProto = objectProtoKeys.filter((k) => { const d = Object.getOwnPropertyDescriptor(Object.prototype, k); return d && (d.get || d.set) && k !== '__proto__'; });
	const time = (fn) => { fn(); let best = Infinity; for (let r = 0; r < 7; r++) { const t = performance.now(); fn(); best = Math.min(best, performance.now() - t); } return Math.round(best * 10) / 10; };
	const N = 200000;
	const bench = {
		literal_writes_ms: time(() => { const a = []; for (let i = 0; i < N; i++) { const o = {}; o.email = 'x'; o.first_name = 'y'; o.status = 'sent'; o.n = i; a.push(o); } return a; }),
		literal_ms: time(() => { const a = []; for (let i = 0; i < N; i++) a.push({ email: 'x', first_name: 'y', status: 'sent', n: i }); return a; }),
		keyed_writes_ms: time(() => { const a = []; const keys = ['email', 'first_name', 'status', 'n']; for (let i = 0; i < N; i++) { const o = {}; for (const k of keys) o[k] = i; a.push(o); } return a; }),
		null_proto_writes_ms: time(() => { const a = []; for (let i = 0; i < N; i++) { const o = Object.create(null); o.email = 'x'; o.first_name = 'y'; o.status = 'sent'; o.n = i; a.push(o); } return a; }),
		array_index_writes_ms: time(() => { const a = []; for (let i = 0; i < N * 4; i++) a[i] = i; return a; }),
		map_sets_ms: time(() => { const m = new Map(); for (let i = 0; i < N; i++) m.set('k' + i, i); return m; }),
		spread_ms: time(() => { const a = []; const base = { email: 'x', first_name: 'y' }; for (let i = 0; i < N; i++) a.push({ ...base, n: i }); return a; }),
		json_ms: time(() => JSON.stringify(Array.from({ length: N / 4 }, (_, i) => ({ email: 'user' + i + '@example.org', first_name: 'U' + i })))),
		hmac_ms: time(() => { const c = require('node:crypto'); const key = Buffer.alloc(32, 7); for (let i = 0; i < N / 10; i++) c.createHmac('sha256', key).update('x' + i).digest('base64url'); }),
		new_error_ms: time(() => { for (let i = 0; i < N / 20; i++) new Error('x').stack; }),
	};
	return JSON.stringify({
		node: process.version,
		frozen,
		objectProtoKeys: objectProtoKeys.length,
		accessorsOnObjectProto,
		prepareStackTrace: typeof Error.prepareStackTrace,
		stackTraceLimit: Error.stackTraceLimit,
		bench,
	});
})()`;

async function inN8n(): Promise<Record<string, unknown>> {
	const port = await freePort();
	const n8n = await startN8nWithPackage({ env: { NODE_OPTIONS: `--inspect=127.0.0.1:${port}` } });
	try {
		const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
		// require is not a global in the main realm's evaluate: give the probe one.
		const expression = `globalThis.require = globalThis.require ?? process.mainModule.require.bind(process.mainModule); ${PROBE}`;
		// The DevTools client runs in Node 24 (a global WebSocket); it prints the probe's value.
		const client = String.raw`
			const ws = new WebSocket(process.env.WS_URL);
			ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: process.env.EXPR, returnByValue: true } }));
			ws.onmessage = (m) => {
				const msg = JSON.parse(String(m.data));
				if (msg.id !== 1) return;
				if (msg.result.exceptionDetails) { console.error(JSON.stringify(msg.result.exceptionDetails)); process.exit(1); }
				process.stdout.write(msg.result.result.value);
				process.exit(0);
			};`;
		const r = spawnSync(await ensureNode24(), ['-e', client], { encoding: 'utf8', env: { ...process.env, WS_URL: targets[0].webSocketDebuggerUrl, EXPR: expression }, timeout: 300_000 });
		if (r.status !== 0) throw new Error(`probe in n8n failed: ${r.stderr}`);
		const value = r.stdout;
		return JSON.parse(value);
	} finally {
		await n8n.stop();
	}
}

async function plain(): Promise<Record<string, unknown>> {
	const node = await ensureNode24();
	const r = spawnSync(node, ['-e', `process.stdout.write(${PROBE})`], { encoding: 'utf8' });
	if (r.status !== 0) throw new Error(r.stderr);
	return JSON.parse(r.stdout);
}

async function main() {
	const p = await plain();
	const n = await inN8n();
	const { bench: _pb, ...pRest } = p;
	const { bench: _nb, ...nRest } = n;
	console.log(JSON.stringify({ plain: pRest, n8n: nRest }));
	const pb = p.bench as Record<string, number>;
	const nb = n.bench as Record<string, number>;
	console.log('best of 7 runs, ms:');
	for (const k of Object.keys(pb)) console.log(`${k.padEnd(24)} plain ${String(pb[k]).padStart(8)}  n8n ${String(nb[k]).padStart(8)}  ×${(nb[k] / pb[k]).toFixed(1)}`);
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
