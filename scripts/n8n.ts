/**
 * The local n8n launcher behind `npm start` (and, extended with test-only switches by the e2e
 * harness's N8nInstance, the end-to-end tests and the benchmarks):
 * - Node 24 from the npm registry's `node` package when the system Node is older;
 * - n8n installed once into a cache folder outside the checkout (keyed by version, marker written only
 *   when complete, a lock so two runs never install into the same folder at once);
 * - this package packed and installed the way users install a community package, so node types are
 *   `n8n-nodes-email-campaign-agent.<node>`;
 * - owner account, credentials, workflows and activation through n8n's REST API; manual workflows run
 *   with `n8n execute`.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { nodeTypes } from './templates/nodeCheck';

export const N8N_VERSION = process.env.N8N_VERSION ?? '2.40.7';
export const PACKAGE_NAME = 'n8n-nodes-email-campaign-agent';
const ROOT = resolve(__dirname, '..');

export function cacheRoot(): string {
	return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'n8n-campaign-agent');
}

function log(message: string): void {
	process.stderr.write(`[n8n] ${message}\n`);
}

export function sleep(ms: number): Promise<void> {
	return new Promise((r) => setTimeout(r, ms));
}

/** Cross-process lock: mkdir is atomic; a lock older than `staleMs` is taken over. */
async function withLock<T>(dir: string, fn: () => Promise<T> | T, staleMs = 30 * 60_000): Promise<T> {
	const lock = `${dir}.lock`;
	for (;;) {
		try {
			mkdirSync(lock);
			break;
		} catch {
			try {
				if (Date.now() - statSync(lock).mtimeMs > staleMs) {
					rmSync(lock, { recursive: true, force: true });
					continue;
				}
			} catch {
				continue;
			}
			await sleep(2000);
		}
	}
	try {
		return await fn();
	} finally {
		rmSync(lock, { recursive: true, force: true });
	}
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
	const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 30 * 60_000, maxBuffer: 64 * 1024 * 1024 });
	if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').slice(-3000)}`);
	return r.stdout;
}

/** npm outside this checkout: the project's .npmrc (ignore-scripts) must not apply to these installs. */
export function npmIn(dir: string, args: string[], timeoutMs?: number): string {
	return run('npm', ['--no-audit', '--no-fund', '--loglevel=error', ...args], { cwd: dir, timeoutMs, env: { ...process.env, npm_config_ignore_scripts: undefined } as NodeJS.ProcessEnv });
}

export async function ensureNode24(): Promise<string> {
	if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
	const dir = join(cacheRoot(), 'node-24');
	const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
	const ok = () => existsSync(join(dir, '.complete')) && existsSync(bin);
	if (ok()) return bin;
	mkdirSync(dir, { recursive: true });
	await withLock(dir, () => {
		if (ok()) return;
		if (!existsSync(bin)) {
			log('installing Node 24 from the npm registry (node@24)…');
			writeFileSync(join(dir, 'package.json'), '{"name":"node24","private":true}');
			npmIn(dir, ['install', 'node@24']);
		}
		const v = run(bin, ['--version']).trim();
		if (!v.startsWith('v24')) throw new Error(`expected Node 24 at ${bin}, got ${v}`);
		writeFileSync(join(dir, '.complete'), v);
	});
	return bin;
}

export interface N8nInstall {
	nodeBin: string;
	n8nBin: string;
	dir: string;
}

/**
 * n8n into the cache: `npm install --ignore-scripts` (a Kafka client's build would download sources,
 * which fails offline) then `npm rebuild sqlite3` (built from source for n8n's default database).
 */
export async function ensureN8n(version = N8N_VERSION): Promise<N8nInstall> {
	const nodeBin = await ensureNode24();
	const dir = join(cacheRoot(), `n8n-${version}`);
	const n8nBin = join(dir, 'node_modules', 'n8n', 'bin', 'n8n');
	const marker = join(dir, '.complete');
	if (existsSync(marker) && existsSync(n8nBin)) return { nodeBin, n8nBin, dir };
	mkdirSync(dir, { recursive: true });
	await withLock(dir, () => {
		if (existsSync(marker)) return;
		const started = Date.now();
		if (!existsSync(n8nBin)) {
			log(`installing n8n ${version} into ${dir} (first time only, several minutes)…`);
			writeFileSync(join(dir, 'package.json'), '{"name":"n8n-cache","private":true}');
			npmIn(dir, ['install', '--ignore-scripts', `n8n@${version}`], 60 * 60_000);
		}
		const sqlite = join(dir, 'node_modules', 'sqlite3', 'build', 'Release', 'node_sqlite3.node');
		if (!existsSync(sqlite)) {
			log('building sqlite3 for n8n (about 2 minutes)…');
			npmIn(dir, ['rebuild', 'sqlite3'], 30 * 60_000);
		}
		const v = run(nodeBin, [n8nBin, '--version'], { env: { ...process.env, N8N_USER_FOLDER: mkdtempSync(join(tmpdir(), 'n8n-v-')) } }).trim();
		if (!v.includes(version)) throw new Error(`n8n --version printed "${v}", expected ${version}`);
		writeFileSync(marker, `${version} ${new Date().toISOString()}`);
		log(`n8n ${version} ready (${Math.round((Date.now() - started) / 1000)} s)`);
	});
	return { nodeBin, n8nBin, dir };
}

function sourceHash(): string {
	const h = createHash('sha256');
	const walk = (dir: string) => {
		for (const name of readdirSync(dir).sort()) {
			const p = join(dir, name);
			if (statSync(p).isDirectory()) walk(p);
			else h.update(p).update(readFileSync(p));
		}
	};
	for (const d of ['nodes', 'credentials', 'lib', 'workflows']) walk(join(ROOT, d));
	for (const f of ['package.json', 'package-lock.json', 'gulpfile.js', 'tsconfig.json', 'tsconfig.build.json']) h.update(readFileSync(join(ROOT, f)));
	return h.digest('hex').slice(0, 16);
}

/** Builds and packs this package (cached by a hash of its sources); returns the .tgz path. */
export function packPackage(): string {
	const dir = join(cacheRoot(), 'packs');
	mkdirSync(dir, { recursive: true });
	const target = join(dir, `${PACKAGE_NAME}-${sourceHash()}.tgz`);
	if (existsSync(target)) return target;
	run('npm', ['run', 'build', '--silent'], { cwd: ROOT });
	const out = mkdtempSync(join(tmpdir(), 'eca-pack-'));
	run('npm', ['pack', '--ignore-scripts', '--pack-destination', out], { cwd: ROOT });
	const tgz = readdirSync(out).find((f) => f.endsWith('.tgz'));
	if (!tgz) throw new Error('npm pack produced no .tgz');
	copyFileSync(join(out, tgz), target);
	rmSync(out, { recursive: true, force: true });
	return target;
}

export async function freePort(): Promise<number> {
	return new Promise((resolvePort, reject) => {
		const srv = net.createServer();
		srv.listen(0, '127.0.0.1', () => {
			const port = (srv.address() as net.AddressInfo).port;
			srv.close(() => resolvePort(port));
		});
		srv.on('error', reject);
	});
}

export interface InstanceOptions {
	db?: 'postgres' | 'sqlite';
	/** Queue mode: main + this many workers on Redis. */
	workers?: number;
	/** Executions each worker takes at once (n8n's default is 10). */
	workerConcurrency?: number;
	env?: Record<string, string>;
	port?: number;
	userFolder?: string;
	/** Keep the user folder and database after stop (npm start). */
	persistent?: boolean;
}

export interface Proc {
	name: string;
	child: ChildProcess;
	output: string[];
}

export interface ExecutionResult {
	status: string;
	error?: { message: string; node?: string };
	/** Output items of each node's first run, per output. */
	nodes: Record<string, Array<Array<Record<string, unknown>>>>;
	raw: unknown;
}

/**
 * One local n8n with production-like settings: n8n keeps its own encryption key in its user folder,
 * cookies stay secure, nodes may not read the environment, executions are pruned as usual. It listens
 * on 127.0.0.1 only. `insecureSettings()` says what is still not production-grade.
 */
export class LocalN8n {
	readonly userFolder: string;
	port = 0;
	brokerPort = 0;
	protected procs: Proc[] = [];
	private cookie = '';
	private dbName?: string;
	readonly owner = { email: 'owner@example.com', password: `Campaign-${randomBytes(6).toString('hex')}A1` };
	protected install?: N8nInstall;
	private bullPrefix = `eca${randomBytes(4).toString('hex')}`;

	constructor(readonly options: InstanceOptions = {}) {
		this.userFolder = options.userFolder ?? mkdtempSync(join(tmpdir(), 'eca-n8n-'));
		mkdirSync(join(this.userFolder, '.n8n'), { recursive: true });
	}

	/** What about this instance is not production-grade, in words for the person starting it. */
	insecureSettings(): string[] {
		const env = this.env();
		const out: string[] = [];
		if (env.N8N_PROTOCOL === 'http') out.push(`plain http without TLS${env.N8N_LISTEN_ADDRESS === '127.0.0.1' ? ' (listening on 127.0.0.1 only: nobody else can reach it)' : ''}`);
		if (env.N8N_SECURE_COOKIE === 'false') out.push('session cookies are sent without the Secure flag');
		if (env.N8N_BLOCK_ENV_ACCESS_IN_NODE === 'false') out.push('workflows may read environment variables ($env)');
		if (env.N8N_UNVERIFIED_PACKAGES_ENABLED === 'true') out.push('community packages n8n has not verified may be installed (this package is one)');
		if (this.options.db === 'sqlite') out.push("n8n's own data is in SQLite (one process; use Postgres and queue mode in production, see docker-compose.yml)");
		return out;
	}

	get baseUrl(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	webhookUrl(path: string): string {
		return `${this.baseUrl}/webhook/${path.replace(/^\//, '')}`;
	}

	env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
		const db: Record<string, string> =
			this.options.db === 'sqlite'
				? { DB_TYPE: 'sqlite' }
				: { DB_TYPE: 'postgresdb', DB_POSTGRESDB_HOST: '127.0.0.1', DB_POSTGRESDB_PORT: '5432', DB_POSTGRESDB_USER: 'postgres', DB_POSTGRESDB_DATABASE: this.dbName ?? 'postgres' };
		const queue: Record<string, string> = this.options.workers
			? { EXECUTIONS_MODE: 'queue', QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: '6379', QUEUE_BULL_PREFIX: this.bullPrefix, OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true' }
			: {};
		return {
			PATH: process.env.PATH,
			HOME: process.env.HOME,
			LANG: process.env.LANG ?? 'C.UTF-8',
			N8N_USER_FOLDER: this.userFolder,
			N8N_PORT: String(this.port),
			N8N_HOST: '127.0.0.1',
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_PROTOCOL: 'http',
			WEBHOOK_URL: `${this.baseUrl}/`,
			N8N_EDITOR_BASE_URL: `${this.baseUrl}/`,
			// This machine has no network: nothing to phone home to, no template gallery to load.
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_COMMUNITY_PACKAGES_ENABLED: 'true',
			N8N_UNVERIFIED_PACKAGES_ENABLED: 'true',
			N8N_RUNNERS_BROKER_PORT: String(this.brokerPort),
			...db,
			...queue,
			...this.options.env,
			...extra,
		};
	}

	private async createDatabase(): Promise<void> {
		if (this.options.db === 'sqlite' || this.dbName) return;
		this.dbName = `n8n_e2e_${randomBytes(4).toString('hex')}`;
		const c = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
		await c.connect();
		await c.query(`CREATE DATABASE ${this.dbName}`);
		await c.end();
	}

	/** Installs a packed community package into `<user folder>/.n8n/nodes`, as n8n's installer does. */
	installPackage(tgz: string): void {
		const nodes = join(this.userFolder, '.n8n', 'nodes');
		mkdirSync(nodes, { recursive: true });
		if (!existsSync(join(nodes, 'package.json'))) writeFileSync(join(nodes, 'package.json'), '{"name":"installed-nodes","private":true}');
		npmIn(nodes, ['install', '--omit=dev', '--legacy-peer-deps', '--ignore-scripts', tgz], 10 * 60_000);
	}

	protected spawnN8n(name: string, args: string[]): Proc {
		const child = spawn(this.install!.nodeBin, [this.install!.n8nBin, ...args], { env: this.env(name.startsWith('worker') ? { N8N_RUNNERS_BROKER_PORT: String(this.brokerPort + 1 + this.procs.length) } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
		const p: Proc = { name, child, output: [] };
		const keep = (b: Buffer) => {
			p.output.push(b.toString());
			if (p.output.length > 2000) p.output.splice(0, 1000);
		};
		child.stdout!.on('data', keep);
		child.stderr!.on('data', keep);
		this.procs.push(p);
		return p;
	}

	async start(): Promise<void> {
		this.install = await ensureN8n();
		if (!this.port) this.port = this.options.port ?? (await freePort());
		if (!this.brokerPort) this.brokerPort = await freePort();
		await this.createDatabase();
		const main = this.spawnN8n('main', ['start']);
		await this.waitReady(main);
		for (let i = 0; i < (this.options.workers ?? 0); i++) this.spawnN8n(`worker${i}`, ['worker', `--concurrency=${this.options.workerConcurrency ?? 5}`]);
		if (this.options.workers) await sleep(3000);
	}

	protected async waitReady(p: Proc, timeoutMs = 180_000): Promise<void> {
		const end = Date.now() + timeoutMs;
		while (Date.now() < end) {
			if (p.child.exitCode !== null) throw new Error(`n8n exited (${p.child.exitCode}) before it was ready:\n${this.logs().slice(-3000)}`);
			try {
				const r = await fetch(`${this.baseUrl}/healthz/readiness`);
				if (r.ok) return;
			} catch {
				// not listening yet
			}
			await sleep(500);
		}
		throw new Error(`n8n did not become ready in ${timeoutMs / 1000} s:\n${this.logs().slice(-3000)}`);
	}

	logs(): string {
		return this.procs.map((p) => `--- ${p.name}\n${p.output.join('')}`).join('\n');
	}

	async stop(): Promise<void> {
		await Promise.all(
			this.procs.map(
				(p) =>
					new Promise<void>((done) => {
						if (p.child.exitCode !== null || p.child.signalCode !== null) return done();
						const t = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
						p.child.once('exit', () => (clearTimeout(t), done()));
						p.child.kill('SIGTERM');
					}),
			),
		);
		this.procs = [];
		if (!this.options.persistent && !process.env.KEEP_N8N) {
			if (this.dbName) {
				const c = new Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
				await c.connect();
				await c.query(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`).catch(() => undefined);
				await c.end();
			}
			rmSync(this.userFolder, { recursive: true, force: true });
		}
	}

	async rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
		const r = await fetch(`${this.baseUrl}/rest${path}`, {
			method,
			headers: { 'content-type': 'application/json', cookie: this.cookie, 'browser-id': 'e2e-harness' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await r.text();
		if (!r.ok) throw new Error(`${method} /rest${path} → ${r.status}: ${text.slice(0, 1000)}`);
		const json = text ? JSON.parse(text) : {};
		return (json.data ?? json) as T;
	}

	/** Creates the owner account on a fresh instance (no setup wizard) and logs in. */
	async setupOwner(): Promise<{ email: string; password: string }> {
		const r = await fetch(`${this.baseUrl}/rest/owner/setup`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'browser-id': 'e2e-harness' },
			body: JSON.stringify({ email: this.owner.email, firstName: 'Campaign', lastName: 'Owner', password: this.owner.password }),
		});
		if (!r.ok && r.status !== 400) throw new Error(`owner setup failed: ${r.status} ${await r.text()}`);
		await this.login();
		return this.owner;
	}

	async login(password = this.owner.password): Promise<void> {
		const r = await fetch(`${this.baseUrl}/rest/login`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', 'browser-id': 'e2e-harness' },
			body: JSON.stringify({ emailOrLdapLoginId: this.owner.email, password }),
		});
		if (!r.ok) throw new Error(`login failed: ${r.status} ${await r.text()}`);
		const set = r.headers.getSetCookie?.() ?? [r.headers.get('set-cookie') ?? ''];
		this.cookie = set.map((c) => c.split(';')[0]).join('; ');
	}

	async createCredential(type: string, name: string, data: Record<string, unknown>): Promise<string> {
		const r = await this.rest<{ id: string }>('POST', '/credentials', { name, type, data });
		return r.id;
	}

	/** Imports a workflow (object or file), pointing each node's credentials of a type at the given id. */
	async importWorkflow(source: string | Record<string, unknown>, credentials: Record<string, { id: string; name: string }> = {}): Promise<{ id: string; versionId: string; workflow: Record<string, unknown> }> {
		const wf = JSON.parse(typeof source === 'string' ? readFileSync(source, 'utf8') : JSON.stringify(source)) as Record<string, unknown> & { nodes: Array<Record<string, unknown>> };
		const types = this.credentialTypesByNode();
		for (const n of wf.nodes) {
			const wanted = types[String(n.type)] ?? [];
			const creds: Record<string, unknown> = { ...((n.credentials as Record<string, unknown>) ?? {}) };
			for (const t of wanted) if (credentials[t]) creds[t] = credentials[t];
			if (Object.keys(creds).length) n.credentials = creds;
		}
		const id = (wf.id as string) ?? randomBytes(8).toString('hex');
		const body = { name: wf.name, nodes: wf.nodes, connections: wf.connections, settings: wf.settings ?? {}, pinData: wf.pinData ?? {} };
		const existing = await this.rest<{ versionId: string }>('GET', `/workflows/${id}`).catch(() => undefined);
		// n8n 2.x only deletes archived workflows: an existing one is updated in place instead.
		const saved = existing
			? await this.rest<{ id: string; versionId: string }>('PATCH', `/workflows/${id}`, { ...body, versionId: existing.versionId })
			: await this.rest<{ id: string; versionId: string }>('POST', '/workflows', { ...body, id });
		return { id: saved.id, versionId: saved.versionId, workflow: wf };
	}

	/** Which credential types each node takes: the package's from its nodes' own descriptions, n8n's webhook node by hand. */
	private credentialTypesByNode(): Record<string, string[]> {
		// Read once per instance: every imported workflow asks.
		if (!this.credentialTypes) {
			this.credentialTypes = { 'n8n-nodes-base.webhook': ['jwtAuth', 'httpBasicAuth', 'httpHeaderAuth'] };
			for (const [type, node] of nodeTypes()) this.credentialTypes[type] = (node.description.credentials ?? []).map((c) => c.name);
		}
		return this.credentialTypes;
	}

	private credentialTypes?: Record<string, string[]>;

	/** Publishes (activates) a workflow in the running instance. */
	async activate(id: string): Promise<void> {
		const wf = await this.rest<{ versionId: string }>('GET', `/workflows/${id}`);
		await this.rest('POST', `/workflows/${id}/activate`, { versionId: wf.versionId });
	}

	async deactivate(id: string): Promise<void> {
		await this.rest('POST', `/workflows/${id}/deactivate`, {});
	}

	/** Runs a manual workflow with the CLI (`n8n execute --id`) and returns each node's output. */
	execute(id: string, timeoutMs = 600_000): Promise<ExecutionResult> & { process?: ChildProcess } {
		const child = spawn(this.install!.nodeBin, [this.install!.n8nBin, 'execute', `--id=${id}`, '--rawOutput'], {
			env: this.env({ N8N_RUNNERS_BROKER_PORT: String(this.brokerPort + 50), N8N_PORT: String(this.port + 1) }),
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		const out: Buffer[] = [];
		const err: string[] = [];
		child.stdout!.on('data', (b: Buffer) => out.push(b));
		child.stderr!.on('data', (b: Buffer) => err.push(b.toString()));
		const promise = new Promise<ExecutionResult>((done, fail) => {
			const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
			child.on('exit', (code, signal) => {
				clearTimeout(t);
				const text = Buffer.concat(out).toString();
				const start = text.indexOf('{');
				if (start < 0) return fail(new Error(`n8n execute ${id} printed no result (exit ${code ?? signal}):\n${text.slice(-2000)}\n${err.join('').slice(-3000)}`));
				// n8n may log a line after the result (e.g. while shutting down): read just the one JSON object.
				const json = text.slice(start, jsonObjectEnd(text, start));
				try {
					done(parseExecution(JSON.parse(json)));
				} catch (e) {
					fail(new Error(`n8n execute ${id}: unreadable output (${(e as Error).message}):\n${text.slice(0, 2000)}\n…\n${text.slice(-2000)}`));
				}
			});
		}) as Promise<ExecutionResult> & { process?: ChildProcess };
		promise.process = child;
		return promise;
	}

	async executions(workflowId: string): Promise<Array<{ id: string; status: string; finished: boolean }>> {
		const r = await this.rest<{ results: Array<{ id: string; status: string; finished: boolean }> }>('GET', `/executions?filter=${encodeURIComponent(JSON.stringify({ workflowId }))}`);
		return r.results;
	}
}

/** The index just past the JSON object that opens at `start` (strings and escapes respected), or the text's end. */
export function jsonObjectEnd(text: string, start: number): number {
	let depth = 0;
	let inString = false;
	for (let i = start; i < text.length; i++) {
		const c = text[i];
		if (inString) {
			if (c === '\\') i++;
			else if (c === '"') inString = false;
		} else if (c === '"') inString = true;
		else if (c === '{' || c === '[') depth++;
		else if (c === '}' || c === ']') {
			depth--;
			if (depth === 0) return i + 1;
		}
	}
	return text.length;
}

export function parseExecution(raw: unknown): ExecutionResult {
	const data = (raw as { data?: { resultData?: { runData?: Record<string, Array<Record<string, unknown>>>; error?: { message: string; node?: { name: string } } } } }).data;
	const runData = data?.resultData?.runData ?? {};
	const nodes: ExecutionResult['nodes'] = {};
	for (const [name, runs] of Object.entries(runData)) {
		const main = ((runs[0]?.data as { main?: Array<Array<{ json: Record<string, unknown> }> | null> })?.main ?? []).map((items) => (items ?? []).map((i) => i.json));
		nodes[name] = main;
	}
	const error = data?.resultData?.error;
	return { status: error ? 'error' : 'success', error: error ? { message: error.message, node: error.node?.name } : undefined, nodes, raw };
}
