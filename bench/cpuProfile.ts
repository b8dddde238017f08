/**
 * Reads a V8 .cpuprofile (node --cpu-prof) into self time per function and per file, optionally only
 * the samples inside a time window (ms from the profile's start) or under a function (total time).
 *
 * CLI: `npx tsx bench/cpuProfile.ts <file.cpuprofile> [--top 40] [--from ms] [--to ms] [--match text] [--timeline]`
 * (--timeline: busy milliseconds per second of the profile, to find a run's window).
 */
import { readFileSync } from 'node:fs';
import { arg } from './common';

interface CallFrame {
	functionName: string;
	url: string;
	lineNumber: number;
	columnNumber: number;
}
interface ProfileNode {
	id: number;
	callFrame: CallFrame;
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	startTime: number;
	endTime: number;
	samples: number[];
	timeDeltas: number[];
}

export interface ProfileSummary {
	total_ms: number;
	idle_ms: number;
	gc_ms: number;
	byFunction: Array<{ name: string; self_ms: number }>;
	byFile: Array<{ file: string; self_ms: number }>;
	/** Total (inclusive) time of the functions whose name or file contains `match`. */
	matched?: Array<{ name: string; total_ms: number }>;
}

const shortUrl = (url: string) =>
	url
		.replace(/^file:\/\//, '')
		.replace(/.*\/node_modules\/(n8n-nodes-email-campaign-agent)\//, '$1/')
		.replace(/.*\/node_modules\//, '')
		.replace(/^\/work\/main\//, '') || '(native)';

/** Busy (not idle) milliseconds in each second of the profile. */
export function timeline(file: string): number[] {
	const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
	const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
	const busy: number[] = [];
	let t = 0;
	for (let i = 0; i < p.samples.length; i++) {
		t += p.timeDeltas[i];
		const s = Math.floor(t / 1e6);
		busy[s] = (busy[s] ?? 0) + (idle.has(p.samples[i]) ? 0 : (p.timeDeltas[i + 1] ?? 0) / 1000);
	}
	return Array.from(busy, (b) => Math.round(b ?? 0));
}

export function summarize(file: string, opts: { from?: number; to?: number; top?: number; match?: string } = {}): ProfileSummary {
	const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
	const byId = new Map(p.nodes.map((n) => [n.id, n]));
	const parent = new Map<number, number>();
	for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const self = new Map<number, number>();
	let t = 0;
	for (let i = 0; i < p.samples.length; i++) {
		t += p.timeDeltas[i];
		const ms = t / 1000;
		if (opts.from !== undefined && ms < opts.from) continue;
		if (opts.to !== undefined && ms > opts.to) continue;
		// A sample's time is the gap to the next one.
		const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
		self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
	}
	const fn = new Map<string, number>();
	const files = new Map<string, number>();
	const matched = new Map<string, number>();
	let total = 0;
	let idle = 0;
	let gc = 0;
	for (const [id, ms] of self) {
		const n = byId.get(id)!;
		const cf = n.callFrame;
		total += ms;
		if (cf.functionName === '(idle)') idle += ms;
		if (cf.functionName === '(garbage collector)') gc += ms;
		const key = `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
		fn.set(key, (fn.get(key) ?? 0) + ms);
		const f = shortUrl(cf.url);
		files.set(f, (files.get(f) ?? 0) + ms);
		if (opts.match) {
			// Inclusive: every distinct matching frame on the stack gets the sample once.
			const seen = new Set<string>();
			for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
				const c = byId.get(cur)!.callFrame;
				const k = `${c.functionName || '(anonymous)'} ${shortUrl(c.url)}:${c.lineNumber + 1}`;
				if (!seen.has(k) && k.includes(opts.match)) {
					seen.add(k);
					matched.set(k, (matched.get(k) ?? 0) + ms);
				}
			}
		}
	}
	const top = opts.top ?? 40;
	const sorted = <K>(m: Map<K, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
	const r = (x: number) => Math.round(x);
	return {
		total_ms: r(total),
		idle_ms: r(idle),
		gc_ms: r(gc),
		byFunction: sorted(fn).map(([name, ms]) => ({ name, self_ms: r(ms) })),
		byFile: sorted(files).map(([file, ms]) => ({ file, self_ms: r(ms) })),
		...(opts.match ? { matched: sorted(matched).map(([name, ms]) => ({ name, total_ms: r(ms) })) } : {}),
	};
}

if (require.main === module) {
	const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
	if (process.argv.includes('--timeline')) {
		timeline(process.argv[2]).forEach((ms, s) => console.log(`${String(s).padStart(4)} s ${String(ms).padStart(5)} ms ${'#'.repeat(Math.round(ms / 20))}`));
		process.exit(0);
	}
	const s = summarize(process.argv[2], { from: num(arg('from')), to: num(arg('to')), top: num(arg('top')), match: arg('match') });
	console.log(`total ${s.total_ms} ms, idle ${s.idle_ms} ms, GC ${s.gc_ms} ms`);
	console.log('\nself time by file:');
	for (const f of s.byFile) console.log(`${String(f.self_ms).padStart(7)} ms  ${f.file}`);
	console.log('\nself time by function:');
	for (const f of s.byFunction) console.log(`${String(f.self_ms).padStart(7)} ms  ${f.name}`);
	if (s.matched) {
		console.log(`\ntotal time of frames matching "${arg('match')}":`);
		for (const f of s.matched) console.log(`${String(f.total_ms).padStart(7)} ms  ${f.name}`);
	}
}
