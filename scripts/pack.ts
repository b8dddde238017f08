/**
 * `npm run pack` makes the tarball that gets published; `npm run release` publishes that same tarball.
 *
 * A bare `npm pack` or `npm publish` ships no dist/ from a clean checkout: dist/ is not in git, and
 * .npmrc sets ignore-scripts (README, "Install scripts"), which skips the prepack build as well. n8n
 * would then answer "Unrecognized node type" for every node. So this script removes any old dist/,
 * builds, packs with scripts off, checks that the tarball holds every file package.json's `n8n` block
 * names (what n8n loads), and only then publishes, the checked tarball itself.
 *   npm run pack                          → ./<name>-<version>.tgz
 *   npm run pack -- --destination <dir>   → into <dir>
 *   npm run release -- [npm publish options, e.g. --tag next, --dry-run, --otp <code>]
 * The e2e harness (scripts/n8n.ts, packPackage) runs `npm run pack` on a clean clone and installs the result.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');

export interface PackageJson {
	name: string;
	version: string;
	n8n?: { nodes?: string[]; credentials?: string[] };
}

/** The files package.json's `n8n` block names that a tarball's file list lacks (or why the block itself is unusable). */
export function missingFromTarball(pkg: PackageJson, files: string[]): string[] {
	const wanted = [...(pkg.n8n?.nodes ?? []), ...(pkg.n8n?.credentials ?? [])];
	if (!pkg.n8n?.nodes?.length) return ['package.json has no n8n.nodes: n8n would load nothing from this package'];
	const have = new Set(files.map((f) => f.replace(/^package\//, '')));
	return wanted.filter((f) => !have.has(f));
}

function npm(args: string[], capture = false): string {
	const r = spawnSync('npm', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
	if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status ?? r.signal})`);
	return r.stdout ?? '';
}

/** Clean build, pack, check; returns the tarball's path. */
export function pack(destination: string): string {
	const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
	rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
	// The build's own output goes to stderr: stdout is kept for the tarball's path.
	const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 2, 'inherit'] });
	if (build.status !== 0) throw new Error(`npm run build failed (${build.status ?? build.signal})`);
	mkdirSync(destination, { recursive: true });
	const [info] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', destination], true)) as Array<{ filename: string; files: Array<{ path: string }> }>;
	const tgz = join(destination, info.filename);
	const missing = missingFromTarball(pkg, info.files.map((f) => f.path));
	if (missing.length) {
		rmSync(tgz, { force: true });
		throw new Error(`${info.filename} lacks what n8n would load, so it was removed:\n  ${missing.join('\n  ')}`);
	}
	return tgz;
}

function main(argv: string[]): void {
	const publish = argv[0] === '--publish';
	const rest = publish ? argv.slice(1) : argv;
	const at = rest.indexOf('--destination');
	const destination = resolve(at >= 0 ? rest[at + 1] : '.');
	const publishArgs = at >= 0 ? [...rest.slice(0, at), ...rest.slice(at + 2)] : rest;
	const tgz = pack(destination);
	process.stderr.write(`packed and checked: ${tgz}\n`);
	process.stdout.write(`${tgz}\n`);
	if (publish) npm(['publish', tgz, ...publishArgs]);
}

if (require.main === module) {
	try {
		main(process.argv.slice(2));
	} catch (e) {
		process.stderr.write(`${(e as Error).message}\n`);
		process.exit(1);
	}
}
