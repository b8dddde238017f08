/**
 * Where n8n's main thread spends its time, from a V8 CPU profile (`node --cpu-prof`) of the n8n
 * process, over a window of the bench's own clock (process.hrtime and V8's profile timestamps are
 * both CLOCK_MONOTONIC microseconds on Linux).
 *
 * Each sample's time (the gap to the next sample) is charged by its stack, walked from the leaf up:
 * - `(idle)`, `(garbage collector)`, `(program)` (V8/native time outside any JS frame) are their own buckets;
 * - the first frame whose script lies in the package's installed folder (the package and the
 *   dependencies installed with it: pg, zod, @noble/…) charges the package;
 * - the first frame of any other script on disk (n8n, its dependencies) charges n8n;
 * - Node's own modules (`node:…`) and native frames are skipped, so their time goes to the JS code
 *   that called them (crypto.verify called by the package is the package's; the HTTP server's
 *   parsing called by n8n's Express is n8n's); a stack of only Node internals (socket reads before
 *   any handler runs) is charged to `node_internal`, reported within n8n's share.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
	children?: number[];
}

interface CpuProfile {
	nodes: ProfileNode[];
	startTime: number;
	endTime: number;
	samples: number[];
	timeDeltas: number[];
}

export type Bucket = 'package' | 'n8n' | 'node_internal' | 'gc' | 'program' | 'idle';

export interface ProfileSplit {
	/** Milliseconds of the window per bucket. */
	ms: Record<Bucket, number>;
	window_ms: number;
	samples: number;
	/** The package's heaviest functions (self time, Node internals they called included), ms over the window. */
	top_package: Array<{ fn: string; ms: number }>;
	/** n8n's heaviest functions, the same way. */
	top_n8n: Array<{ fn: string; ms: number }>;
}

/** The profile file of one process (`CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile`), main thread: tid 0. */
export function profileFileOf(dir: string, pid: number): string {
	const f = readdirSync(dir).find((n) => n.endsWith('.cpuprofile') && n.split('.')[3] === String(pid) && n.split('.')[4] === '0');
	if (!f) throw new Error(`no CPU profile of process ${pid} in ${dir} (${readdirSync(dir).join(', ') || 'empty'})`);
	return join(dir, f);
}

const stripFile = (url: string) => (url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url);

/**
 * Splits the samples between `fromUs` and `toUs` (monotonic µs) of `file`. `packageDir`: the folder
 * n8n loads the package from (its node_modules included); every script below it is the package's.
 */
export function splitProfile(file: string, packageDir: string, fromUs: number, toUs: number): ProfileSplit {
	const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
	const byId = new Map<number, ProfileNode>();
	const parent = new Map<number, number>();
	for (const n of p.nodes) byId.set(n.id, n);
	for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
	const root = packageDir.endsWith('/') ? packageDir : `${packageDir}/`;

	// Each node's bucket and the frame charged, memoised: stacks repeat.
	const memo = new Map<number, { bucket: Bucket; fn: string }>();
	const classify = (id: number): { bucket: Bucket; fn: string } => {
		const known = memo.get(id);
		if (known) return known;
		const leaf = byId.get(id)!;
		const name = leaf.callFrame.functionName;
		let out: { bucket: Bucket; fn: string } | undefined;
		if (name === '(idle)') out = { bucket: 'idle', fn: name };
		else if (name === '(garbage collector)') out = { bucket: 'gc', fn: name };
		else if (name === '(program)') out = { bucket: 'program', fn: name };
		for (let at: number | undefined = id; !out && at !== undefined; at = parent.get(at)) {
			const f = byId.get(at)!.callFrame;
			const url = stripFile(f.url);
			if (!url.startsWith('/')) continue; // node:…, native, V8 builtins: charged to the caller
			const where = `${f.functionName || '(anonymous)'} ${url.startsWith(root) ? url.slice(root.length) : url.replace(/^.*\/node_modules\//, '')}:${f.lineNumber + 1}`;
			out = { bucket: url.startsWith(root) ? 'package' : 'n8n', fn: where };
		}
		out ??= { bucket: 'node_internal', fn: `${name || '(anonymous)'} ${leaf.callFrame.url}` };
		memo.set(id, out);
		return out;
	};

	const ms: Record<Bucket, number> = { package: 0, n8n: 0, node_internal: 0, gc: 0, program: 0, idle: 0 };
	const fns = { package: new Map<string, number>(), n8n: new Map<string, number>() };
	let t = p.startTime;
	let samples = 0;
	for (let i = 0; i < p.samples.length; i++) {
		t += p.timeDeltas[i];
		const next = i + 1 < p.samples.length ? t + p.timeDeltas[i + 1] : p.endTime;
		if (t < fromUs || t >= toUs) continue;
		const dur = Math.max(0, Math.min(next, toUs) - t) / 1000;
		const c = classify(p.samples[i]);
		ms[c.bucket] += dur;
		if (c.bucket === 'package' || c.bucket === 'n8n') fns[c.bucket].set(c.fn, (fns[c.bucket].get(c.fn) ?? 0) + dur);
		samples++;
	}
	const top = (m: Map<string, number>) =>
		[...m.entries()]
			.sort((a, b) => b[1] - a[1])
			.slice(0, 15)
			.map(([fn, v]) => ({ fn, ms: Math.round(v) }));
	return { ms, window_ms: (toUs - fromUs) / 1000, samples, top_package: top(fns.package), top_n8n: top(fns.n8n) };
}

/**
 * CPU time (user + system, ms) the main thread of process `pid` has used so far, from
 * /proc/<pid>/task/<pid>/stat. The profile's samples are wall-clock slices, stretched when the
 * thread waits for a core on a shared machine; this is what it really ran.
 */
export function mainThreadCpuMs(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
	const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	// Fields 14 and 15 of stat (utime, stime), counted from the state field (3rd): indexes 11 and 12.
	return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

/** process.hrtime in the µs of V8's profile clock. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
