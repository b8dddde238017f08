/**
 * The e2e harness: the local launcher (scripts/n8n.ts) with test-only switches — a key of its own per
 * user folder, env access and insecure cookies for the tests' plain-http logins, no execution
 * pruning, bigger payloads, and the means to kill, restart and measure n8n's processes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstanceOptions, LocalN8n, packPackage } from '../../scripts/n8n';

export { freePort, jsonObjectEnd, parseExecution, packPackage, ensureN8n, cacheRoot, N8N_VERSION, PACKAGE_NAME } from '../../scripts/n8n';
export type { ExecutionResult, InstanceOptions } from '../../scripts/n8n';

export class N8nInstance extends LocalN8n {
	private readonly encryptionKey: string;

	constructor(options: InstanceOptions = {}) {
		super(options);
		// Tests (queue workers, restarts) pin the key themselves; a local n8n keeps its own in its config.
		const keyFile = join(this.userFolder, '.n8n', 'test-encryption-key');
		this.encryptionKey = existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : randomBytes(24).toString('hex');
		if (!existsSync(keyFile)) writeFileSync(keyFile, this.encryptionKey, { mode: 0o600 });
	}

	override env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
		return super.env({
			N8N_ENCRYPTION_KEY: this.encryptionKey,
			N8N_SECURE_COOKIE: 'false',
			N8N_BLOCK_ENV_ACCESS_IN_NODE: 'false',
			N8N_RUNNERS_TASK_TIMEOUT: '300',
			N8N_PAYLOAD_SIZE_MAX: '64',
			EXECUTIONS_DATA_PRUNE: 'false',
			GENERIC_TIMEZONE: 'UTC',
			TZ: 'UTC',
			...this.options.env,
			...extra,
		});
	}

	/** Resident memory (MB) of the main process and its children (task runners). */
	rssMb(): number {
		let kb = 0;
		for (const p of this.procs) {
			if (!p.child.pid || p.child.exitCode !== null) continue;
			try {
				const pids = [String(p.child.pid), ...execFileSync('pgrep', ['-P', String(p.child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean)];
				for (const pid of pids) {
					const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
					if (m) kb += Number(m[1]);
				}
			} catch {
				const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'));
				if (m) kb += Number(m[1]);
			}
		}
		return Math.round(kb / 1024);
	}

	kill(signal: NodeJS.Signals = 'SIGKILL', which = 'main'): void {
		for (const p of this.procs) if (p.name === which || which === 'all') p.child.kill(signal);
	}

	/** Starts again whatever was killed (main and/or workers), on the same port, database and user folder. */
	async restart(): Promise<void> {
		const alive = (name: string) => this.procs.some((p) => p.name === name && p.child.exitCode === null && p.child.signalCode === null);
		this.procs = this.procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
		if (!alive('main')) await this.waitReady(this.spawnN8n('main', ['start']));
		for (let i = 0; i < (this.options.workers ?? 0); i++)
			if (!alive(`worker${i}`)) this.spawnN8n(`worker${i}`, ['worker', `--concurrency=${this.options.workerConcurrency ?? 5}`]);
	}

	/** Process id of a running n8n process (main, worker0, ...). */
	pid(name = 'main'): number | undefined {
		return this.procs.find((p) => p.name === name && p.child.exitCode === null)?.child.pid;
	}

}

/** One instance per test file: started with the package installed and an owner logged in. */
export async function startN8nWithPackage(options: InstanceOptions = {}): Promise<N8nInstance> {
	const tgz = packPackage();
	const n8n = new N8nInstance(options);
	n8n.installPackage(tgz);
	await n8n.start();
	await n8n.setupOwner();
	return n8n;
}
