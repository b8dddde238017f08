/**
 * The package as a user installs it: the tarball `npm run pack` makes on a clean clone of this
 * repository (packPackage: no dist/ from the checkout, a build of its own), put into n8n's nodes
 * folder by the steps of n8n 2.x's community-packages installer (installAsN8nDoes), and n8n started
 * on it. n8n must load every node and credential package.json's `n8n` block lists, under the
 * package's name, and a template must run on the installed copy (its own node_modules).
 * ECA_PACKAGE_TGZ=<tarball> runs the same checks on that tarball: one without dist/ fails here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { N8nInstance, PACKAGE_NAME, packPackage } from './n8n';

jest.setTimeout(20 * 60_000);

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; dependencies: Record<string, string>; n8n: { nodes: string[]; credentials: string[] } };

/** The type name n8n gives the class in `dist/<path>.js`, read from its TypeScript source. */
function typeName(distPath: string): string {
	const source = distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts');
	const className = basename(source).split('.')[0];
	// eslint-disable-next-line @typescript-eslint/no-require-imports -- the node's TypeScript source, loaded synchronously by path (ts-jest)
	const Type = (require(join(process.cwd(), source)) as Record<string, new () => { name?: string; description?: { name: string } }>)[className];
	if (!Type) throw new Error(`${source} exports no class ${className}`);
	const t = new Type();
	return t.description?.name ?? t.name!;
}

const expectedNodes = pkg.n8n.nodes.map((p) => `${PACKAGE_NAME}.${typeName(p)}`).sort();
const expectedCredentials = pkg.n8n.credentials.map(typeName).sort();

let n8n: N8nInstance;
let tgz: string;

beforeAll(async () => {
	tgz = packPackage();
	n8n = new N8nInstance({ db: 'sqlite' });
	n8n.installPackage(tgz);
	await n8n.start();
	await n8n.setupOwner();
});

afterAll(async () => {
	await n8n?.stop();
});

it('the tarball holds every file the n8n block names', () => {
	const files = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').map((f) => f.replace(/^package\//, ''));
	expect([...pkg.n8n.nodes, ...pkg.n8n.credentials].filter((f) => !files.includes(f))).toEqual([]);
});

it('sits in the nodes folder as n8n’s installer leaves it: recorded, peers stripped, dependencies in its own node_modules', () => {
	const nodes = n8n.nodesFolder;
	expect(JSON.parse(readFileSync(join(nodes, 'package.json'), 'utf8')).dependencies).toEqual({ [PACKAGE_NAME]: pkg.version });
	const dir = join(nodes, 'node_modules', PACKAGE_NAME);
	const installed = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
	expect(installed).not.toHaveProperty('devDependencies');
	expect(installed).not.toHaveProperty('peerDependencies');
	expect(Object.keys(pkg.dependencies).filter((d) => !existsSync(join(dir, 'node_modules', d, 'package.json')))).toEqual([]);
});

it('n8n loads every node and every credential the n8n block lists', async () => {
	const nodes = new Set((await n8n.types('nodes')).map((t) => t.name).filter((name) => name.startsWith(`${PACKAGE_NAME}.`)));
	// n8n adds an AI-agent tool variant `<type>Tool` of each node marked usableAsTool.
	expect([...nodes].filter((name) => !(name.endsWith('Tool') && nodes.has(name.slice(0, -4)))).sort()).toEqual(expectedNodes);
	const credentials = new Set((await n8n.types('credentials')).map((t) => t.name));
	expect(expectedCredentials.filter((c) => !credentials.has(c))).toEqual([]);
	expect(expectedNodes).toHaveLength(pkg.n8n.nodes.length);
});

it('runs the pipeline template from the installed copy (embedded store, Dry Run)', async () => {
	const { id } = await n8n.importWorkflow('workflows/campaign-pipeline.json');
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	expect(out.nodes['Log Campaign Result'][0][0]).toMatchObject({ recipients: 3, dry_run: 3, store: 'pglite' });
});
