/**
 * bench:pipeline — 100,000 recipients through the five stage nodes in real n8n, from a CSV: once
 * uploaded to a Webhook (n8n's server), once read from a file in `n8n execute --id` (the CLI runs the
 * workflow in a process of its own, keeps every node's output of the run and prints it all). Peak
 * RSS is summed over every n8n process of each (main or CLI process plus its task runners).
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { campaignRig, runCampaign } from './n8nCampaign';
import { pipelineExecuteWorkflow } from './pipelineWorkflow';
import { ensureN8n, freePort } from '../test/e2e/n8n';
import { contacts, csvOf } from '../test/helpers/fixtures';
import { report, seconds } from './common';

const N = Number(process.env.BENCH_RECIPIENTS ?? 100_000);
/** The same CLI run on this many recipients: what `n8n execute` itself takes (startup, the five nodes loaded). */
const SMALL = 100;

/** Resident memory (MB) of a process and all its descendants (n8n's task runners). */
function treeRssMb(pid: number): number {
	let kb = 0;
	const walk = (p: number) => {
		try {
			const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
			if (m) kb += Number(m[1]);
		} catch {
			return;
		}
		let kids: string[] = [];
		try {
			kids = execFileSync('pgrep', ['-P', String(p)], { encoding: 'utf8' }).split('\n').filter(Boolean);
		} catch {
			// no children
		}
		for (const k of kids) walk(Number(k));
	};
	walk(pid);
	return Math.round(kb / 1024);
}

interface CliRun {
	wall_s: number;
	peak_rss_mb: number;
	accepted: number;
	requests: number;
	/** What `n8n execute` printed: the run's data, every node's output, as indented JSON. */
	stdout_mb: number;
}

async function runCli(rig: Awaited<ReturnType<typeof campaignRig>>, n: number, dir: string, tag: string): Promise<CliRun> {
	const csvPath = join(dir, `${tag}.csv`);
	writeFileSync(csvPath, csvOf(contacts(n, `${tag}.cli.bench`)));
	const { id } = await rig.n8n.importWorkflow(pipelineExecuteWorkflow(csvPath, `bench-cli-${tag}`) as unknown as Record<string, unknown>, rig.creds);
	const { nodeBin, n8nBin } = await ensureN8n();
	const env = rig.n8n.env({ N8N_RUNNERS_BROKER_PORT: String(await freePort()), N8N_PORT: String(await freePort()), N8N_RESTRICT_FILE_ACCESS_TO: dir });
	const before = await rig.sim.stats();
	const t0 = performance.now();
	// Into a file, as `n8n execute --id … > run.json` would: n8n exits right after printing, and a pipe would cut the output short.
	const outPath = join(dir, `${tag}.out.json`);
	const out = openSync(outPath, 'w');
	const child = spawn(nodeBin, [n8nBin, 'execute', `--id=${id}`, '--rawOutput'], { env, stdio: ['ignore', out, 'pipe'] });
	closeSync(out);
	let peak = 0;
	const sampler = setInterval(() => (peak = Math.max(peak, treeRssMb(child.pid!))), 100);
	const err: string[] = [];
	child.stderr!.on('data', (b: Buffer) => err.push(b.toString()));
	const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
	clearInterval(sampler);
	const wall = performance.now() - t0;
	const after = await rig.sim.stats();
	const bytes = statSync(outPath).size;
	const tail = readTail(outPath, 4000);
	rmSync(outPath, { force: true });
	if (code !== 0 || !/"finished": true/.test(tail)) throw new Error(`n8n execute (${n} recipients) failed (exit ${code}):\n…\n${tail}\n${err.join('').slice(-3000)}`);
	return { wall_s: seconds(wall), peak_rss_mb: peak, accepted: after.accepted - before.accepted, requests: after.requests - before.requests, stdout_mb: Math.round(bytes / 1048576) };
}

/** The last `n` bytes of a file. */
function readTail(path: string, n: number): string {
	const fd = openSync(path, 'r');
	try {
		const size = fstatSync(fd).size;
		const buf = Buffer.alloc(Math.min(n, size));
		readSync(fd, buf, 0, buf.length, size - buf.length);
		return buf.toString();
	} finally {
		closeSync(fd);
	}
}

async function main() {
	const rig = await campaignRig();
	const dir = mkdtempSync(join(tmpdir(), 'eca-bench-cli-'));
	try {
		const run = await runCampaign(rig, 'pipeline', N);
		if (run.accepted !== N) throw new Error(`webhook: only ${run.accepted} of ${N} accepted`);
		console.log(`five stage nodes behind a webhook (n8n start): ${N} recipients in ${run.wall_s} s, ${run.requests} requests, n8n RSS idle ${run.idle_rss_mb} MB, peak ${run.peak_rss_mb} MB`);

		const small = await runCli(rig, SMALL, dir, 'small');
		const cli = await runCli(rig, N, dir, 'full');
		if (cli.accepted !== N) throw new Error(`n8n execute: only ${cli.accepted} of ${N} accepted`);
		console.log(`five stage nodes in n8n execute: ${N} recipients in ${cli.wall_s} s, ${cli.requests} requests, RSS peak ${cli.peak_rss_mb} MB (${SMALL} recipients: ${small.peak_rss_mb} MB), printed ${cli.stdout_mb} MB of run data`);
		report({
			bench: 'pipeline',
			recipients: N,
			wall_s: run.wall_s,
			requests: run.requests,
			peak_rss_mb: run.peak_rss_mb,
			idle_rss_mb: run.idle_rss_mb,
			execute_wall_s: cli.wall_s,
			execute_requests: cli.requests,
			execute_peak_rss_mb: cli.peak_rss_mb,
			execute_idle_rss_mb: small.peak_rss_mb,
			execute_stdout_mb: cli.stdout_mb,
		});
	} finally {
		rmSync(dir, { recursive: true, force: true });
		await rig.close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
