/**
 * The local n8n launcher behind `npm start` (and, extended with test-only switches by the e2e
 * harness's N8nInstance, the end-to-end tests and the benchmarks):
 * - Node 24 from the npm registry's `node` package when the system Node is older;
 * - n8n installed once into a cache folder outside the checkout (keyed by version, marker written only
 *   when complete, a lock so two runs never install into the same folder at once);
 * - this package packed from a clean clone (`npm ci`, `npm run pack`) and installed the way n8n's
 *   community-packages installer installs it, so node types are `n8n-nodes-email-campaign-agent.<node>`;
 * - owner account, credentials, workflows and activation through n8n's REST API; manual workflows run
 *   with `n8n execute`.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, copyFileSync } from 'node:fs';
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

/** What makes the package: everything `npm ci` and `npm run pack` read, and everything the tarball holds. */
const PACKAGE_INPUTS = ['nodes', 'credentials', 'lib', 'workflows', 'scripts/pack.ts', 'package.json', 'package-lock.json', '.npmrc', '.gitignore', 'gulpfile.js', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE'];

/** The environment of a fresh shell: no npm_* variables of an npm that runs this (they would point npm at this checkout). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
	return { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_'))), ...extra };
}

/**
 * Which commit to clone and the cache key. HEAD, when the files that make the package are as committed;
 * otherwise a commit of the working tree as `git add --all` would record it, written through a
 * temporary index (the real index, the branch and the stash are not touched; the commit is referenced
 * by nothing). The key is the git tree of PACKAGE_INPUTS only, so a test-only change packs nothing anew.
 */
function packageSource(): { commit: string; key: string; what: string } {
	const git = (args: string[], env?: NodeJS.ProcessEnv) => run('git', args, { cwd: ROOT, env }).trim();
	const keyOf = (tree: string) => createHash('sha256').update(git(['ls-tree', tree, '--', ...PACKAGE_INPUTS])).digest('hex').slice(0, 16);
	const head = git(['rev-parse', 'HEAD']);
	const tmp = mkdtempSync(join(tmpdir(), 'eca-index-'));
	try {
		const env = { ...process.env, GIT_INDEX_FILE: join(tmp, 'index') };
		git(['read-tree', 'HEAD'], env);
		git(['add', '--all', '--', '.'], env);
		const tree = git(['write-tree'], env);
		const key = keyOf(tree);
		if (key === keyOf(`${head}^{tree}`)) return { commit: head, key, what: `HEAD (${head.slice(0, 10)})` };
		const who = { GIT_AUTHOR_NAME: 'e2e harness', GIT_AUTHOR_EMAIL: 'harness@localhost', GIT_COMMITTER_NAME: 'e2e harness', GIT_COMMITTER_EMAIL: 'harness@localhost' };
		const commit = git(['commit-tree', tree, '-p', head, '-m', 'working tree, packed by the e2e harness'], { ...env, ...who });
		return { commit, key, what: `the working tree (HEAD ${head.slice(0, 10)} with uncommitted changes to the package)` };
	} finally {
		rmSync(tmp, { recursive: true, force: true });
	}
}

/** Keeps the `keep` newest entries of a cache folder (by mtime; a use touches its entry) and removes the rest. */
function prune(dir: string, keep: number): void {
	const entries = readdirSync(dir)
		.filter((f) => !f.includes('.tmp-'))
		.map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
		.sort((a, b) => b.t - a.t);
	for (const { f } of entries.slice(keep)) rmSync(join(dir, f), { recursive: true, force: true });
}

function touch(path: string): void {
	const now = new Date();
	utimesSync(path, now, now);
}

/**
 * The package as a user gets it from the registry: a clean clone of this repository (see
 * packageSource), `npm ci` and `npm run pack` there (clean build, pack, check that the n8n block's
 * files are in the tarball). Cached by what makes the package, so a suite run packs once (about
 * 80 s) and later runs not at all until the package changes. ECA_PACKAGE_TGZ=<file> takes that
 * tarball instead (one from the registry: `npm pack n8n-nodes-email-campaign-agent@<version>`).
 */
export function packPackage(): string {
	const given = process.env.ECA_PACKAGE_TGZ;
	if (given) {
		if (!existsSync(given)) throw new Error(`ECA_PACKAGE_TGZ=${given}: no such file`);
		return resolve(given);
	}
	const source = packageSource();
	const dir = join(cacheRoot(), 'packs');
	mkdirSync(dir, { recursive: true });
	const target = join(dir, `${PACKAGE_NAME}-${source.key}.tgz`);
	if (existsSync(target)) {
		touch(target);
		return target;
	}
	const started = Date.now();
	log(`packing ${PACKAGE_NAME} from a clean clone of ${source.what}: npm ci, npm run pack…`);
	const work = mkdtempSync(join(tmpdir(), 'eca-clone-'));
	try {
		const repo = join(work, 'repo');
		const out = join(work, 'out');
		// --shared: the clone reads this repository's objects, which include a working-tree commit.
		run('git', ['clone', '--quiet', '--shared', '--no-checkout', ROOT, repo]);
		run('git', ['-C', repo, 'checkout', '--quiet', '--detach', source.commit]);
		const env = cleanEnv();
		run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: repo, env });
		run('npm', ['run', 'pack', '--silent', '--', '--destination', out], { cwd: repo, env });
		const tgz = readdirSync(out).filter((f) => f.endsWith('.tgz'));
		if (tgz.length !== 1) throw new Error(`npm run pack left ${tgz.length} tarballs in ${out}`);
		// Another run may pack the same source at the same time: each writes its own file, the rename is atomic.
		copyFileSync(join(out, tgz[0]), `${target}.tmp-${process.pid}`);
		renameSync(`${target}.tmp-${process.pid}`, target);
	} finally {
		rmSync(work, { recursive: true, force: true });
	}
	log(`packed ${target} (${Math.round((Date.now() - started) / 1000)} s)`);
	prune(dir, 5);
	return target;
}

/** The registry n8n's installer uses: its own setting, else npm's public registry (never the user's npm config). */
const COMMUNITY_REGISTRY = process.env.N8N_COMMUNITY_PACKAGES_REGISTRY ?? 'https://registry.npmjs.org';

/**
 * What n8n 2.x's community-packages installer (CommunityPackagesService.downloadPackage, read in n8n
 * 2.40.7) does in its nodes folder, `<user folder>/.n8n/nodes`, step by step: `npm pack <spec> --quiet`
 * there, the tarball unpacked into node_modules/<name>, that package.json stripped of its dev, peer
 * and optional dependencies, `npm install` inside the package's folder with n8n's arguments (so its
 * dependencies live in its own node_modules), the version recorded in the nodes folder's package.json,
 * the tarball removed. The spec is the tarball's path instead of `<name>@<version>` on the registry;
 * npm runs with a plain environment, as n8n's processes do. Returns the installed package's folder.
 */
export function installAsN8nDoes(tgz: string, nodesDir: string): { dir: string; name: string; version: string } {
	const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG ?? 'C.UTF-8' }, timeoutMs: 10 * 60_000 });
	mkdirSync(nodesDir, { recursive: true });
	const nodesJson = join(nodesDir, 'package.json');
	if (!existsSync(nodesJson)) writeFileSync(nodesJson, JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }, null, 2));
	const tarball = npm(['pack', resolve(tgz), '--quiet', `--registry=${COMMUNITY_REGISTRY}`], nodesDir).trim().split('\n').pop()!;
	try {
		const { name } = JSON.parse(run('tar', ['-xzOf', join(nodesDir, tarball), 'package/package.json'])) as { name: string };
		const dir = join(nodesDir, 'node_modules', name);
		rmSync(dir, { recursive: true, force: true });
		mkdirSync(dir, { recursive: true });
		run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1'], { cwd: nodesDir });
		const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
		for (const k of ['devDependencies', 'peerDependencies', 'optionalDependencies']) delete pkg[k];
		writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
		npm(['install', '--audit=false', '--fund=false', '--bin-links=false', '--install-strategy=shallow', '--ignore-scripts=true', '--package-lock=false', `--registry=${COMMUNITY_REGISTRY}`], dir);
		const nodes = JSON.parse(readFileSync(nodesJson, 'utf8')) as { dependencies?: Record<string, string> };
		nodes.dependencies = { ...nodes.dependencies, [name]: pkg.version };
		writeFileSync(nodesJson, JSON.stringify(nodes, null, 2));
		return { dir, name, version: pkg.version };
	} finally {
		rmSync(join(nodesDir, tarball), { force: true });
	}
}

/**
 * installAsN8nDoes once per tarball into a nodes folder in the cache (its `npm install` fetches the
 * dependencies, about 20 s); each n8n then gets a copy of the installed package.
 */
export function installedPackage(tgz: string): { dir: string; name: string; version: string } {
	const dir = join(cacheRoot(), 'installs');
	mkdirSync(dir, { recursive: true });
	const key = createHash('sha256').update(readFileSync(tgz)).digest('hex').slice(0, 16);
	const target = join(dir, key);
	const meta = join(target, 'installed.json');
	if (existsSync(meta)) {
		touch(target);
		return JSON.parse(readFileSync(meta, 'utf8'));
	}
	const tmp = `${target}.tmp-${process.pid}`;
	rmSync(tmp, { recursive: true, force: true });
	const got = installAsN8nDoes(tgz, join(tmp, 'nodes'));
	const result = { ...got, dir: join(target, 'nodes', 'node_modules', got.name) };
	writeFileSync(join(tmp, 'installed.json'), JSON.stringify(result));
	try {
		renameSync(tmp, target);
	} catch {
		rmSync(tmp, { recursive: true, force: true }); // another run installed the same tarball first
	}
	prune(dir, 3);
	return result;
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
	/** Processes spawned so far: each process other than main gets a task-runner broker port of its own from it. */
	private spawned = 0;

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

	/** n8n's nodes folder for this instance: `<user folder>/.n8n/nodes`, where community packages are installed. */
	get nodesFolder(): string {
		return join(this.userFolder, '.n8n', 'nodes');
	}

	/**
	 * Installs a packed community package into this instance's nodes folder: what n8n's installer
	 * leaves there (installAsN8nDoes, made once per tarball), copied in; main and workers share it.
	 */
	installPackage(tgz: string): void {
		const installed = installedPackage(tgz);
		const nodes = this.nodesFolder;
		const dir = join(nodes, 'node_modules', installed.name);
		mkdirSync(join(nodes, 'node_modules'), { recursive: true });
		rmSync(dir, { recursive: true, force: true });
		run('cp', ['-a', installed.dir, dir]);
		const nodesJson = join(nodes, 'package.json');
		type NodesJson = { name?: string; private?: boolean; dependencies?: Record<string, string> };
		const json: NodesJson = existsSync(nodesJson) ? (JSON.parse(readFileSync(nodesJson, 'utf8')) as NodesJson) : { name: 'installed-nodes', private: true };
		json.dependencies = { ...json.dependencies, [installed.name]: installed.version };
		writeFileSync(nodesJson, JSON.stringify(json, null, 2));
	}

	protected spawnN8n(name: string, args: string[], env: Record<string, string> = {}): Proc {
		const child = spawn(this.install!.nodeBin, [this.install!.n8nBin, ...args], { env: this.env({ ...(name !== 'main' ? { N8N_RUNNERS_BROKER_PORT: String(this.brokerPort + 1 + this.spawned++) } : {}), ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
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
		await Promise.all(Array.from({ length: this.options.workers ?? 0 }, (_, i) => this.startWorker(`worker${i}`)));
	}

	/**
	 * Starts a queue-mode worker and waits until it says it is ready (it then takes jobs). `env` adds to
	 * or overrides the instance's environment (another N8N_USER_FOLDER, say).
	 */
	async startWorker(name: string, env: Record<string, string> = {}, timeoutMs = 180_000): Promise<void> {
		// Its task-runner broker on a port that is free now (a fixed offset from the main's may be taken).
		const p = this.spawnN8n(name, ['worker', `--concurrency=${this.options.workerConcurrency ?? 5}`], { N8N_RUNNERS_BROKER_PORT: String(await freePort()), ...env });
		const end = Date.now() + timeoutMs;
		while (!/n8n worker is now ready/.test(p.output.join(''))) {
			if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${name} exited (${p.child.exitCode ?? p.child.signalCode}) before it was ready:\n${p.output.join('').slice(-3000)}`);
			if (Date.now() > end) throw new Error(`${name} was not ready in ${timeoutMs / 1000} s:\n${p.output.join('').slice(-3000)}`);
			await sleep(200);
		}
	}

	/** Stops one of this instance's processes (main, worker0, ...) and waits until it has exited. */
	async stopProcess(name: string): Promise<void> {
		await Promise.all(this.procs.filter((p) => p.name === name).map((p) => stopChild(p.child)));
		this.procs = this.procs.filter((p) => p.name !== name);
	}

	/** Output of one process so far. */
	output(name: string): string {
		return this.procs
			.filter((p) => p.name === name)
			.map((p) => p.output.join(''))
			.join('');
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
		await Promise.all(this.procs.map((p) => stopChild(p.child)));
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

	/** The node or credential types the editor gets (`/types/nodes.json`, `/types/credentials.json`): what n8n loaded. */
	async types<T = { name: string }>(kind: 'nodes' | 'credentials'): Promise<T[]> {
		const r = await fetch(`${this.baseUrl}/types/${kind}.json`, { headers: { cookie: this.cookie, 'browser-id': 'e2e-harness' } });
		if (!r.ok) throw new Error(`GET /types/${kind}.json → ${r.status}: ${(await r.text()).slice(0, 500)}`);
		return (await r.json()) as T[];
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

/** SIGTERM, SIGKILL after 15 s; resolves once the process has exited. */
function stopChild(child: ChildProcess): Promise<void> {
	return new Promise<void>((done) => {
		if (child.exitCode !== null || child.signalCode !== null) return done();
		const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
		child.once('exit', () => (clearTimeout(t), done()));
		child.kill('SIGTERM');
	});
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
