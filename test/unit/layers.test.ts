/**
 * The layers of ARCHITECTURE.md, checked on the source: SQL lives only under lib/store/ (behind named
 * functions), the store's driver is reached only from lib/store/, and nothing under lib/ imports n8n.
 * Sources are read with the TypeScript parser, so comments never count and every string and template
 * literal does.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');

/** A statement, not a word: each alternative is a fixed keyword sequence, so the test is linear. */
const SQL = /\b(?:SELECT|INSERT INTO|UPDATE \w+(?: \w+)? SET|DELETE FROM)\b/;
const N8N = new Set(['n8n-workflow', 'n8n-core']);

/**
 * String literals outside lib/store/ that look like SQL but are not the package's own, each with the
 * reason. Keyed "file: start of the literal".
 */
const NOT_STORE_SQL: Record<string, string> = {
	'nodes/shared/properties.ts: SELECT email, first_name, company FROM contacts': "Contacts Query's example: the user's own SQL, run by lib/store/contactsQuery",
	'nodes/shared/properties.ts: One SELECT returning an email column': "Contacts Query's help text",
};

function tsFiles(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []));
}

/** Every layer problem in one file, as "file:line: what". */
export function layerProblems(file: string, name = relative(ROOT, file).split('\\').join('/')): string[] {
	const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
	const inStore = name.startsWith('lib/store/');
	const inLib = name.startsWith('lib/');
	const problems: string[] = [];
	const at = (n: ts.Node) => `${name}:${src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1}`;
	const literal = (n: ts.Node, text: string) => {
		if (inStore || !SQL.test(text)) return;
		if (Object.keys(NOT_STORE_SQL).some((k) => `${name}: ${text}`.startsWith(k))) return;
		problems.push(`${at(n)}: SQL outside lib/store/ (${JSON.stringify(text.trim().slice(0, 60))}) — move it behind a named function in lib/store/`);
	};
	const moduleName = (n: ts.Node): string | undefined => {
		if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) return n.moduleSpecifier.text;
		if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) return n.moduleReference.expression.text;
		if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) return n.argument.literal.text;
		if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require')) && n.arguments[0] && ts.isStringLiteral(n.arguments[0]))
			return n.arguments[0].text;
		return undefined;
	};
	const visit = (n: ts.Node) => {
		if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) literal(n, n.text);
		else if (ts.isTemplateExpression(n)) literal(n, [n.head.text, ...n.templateSpans.map((s) => s.literal.text)].join('${…}'));
		const mod = moduleName(n);
		if (inLib && mod !== undefined && N8N.has(mod.split('/')[0])) problems.push(`${at(n)}: lib/ imports ${mod} — n8n types belong in nodes/`);
		if (!inStore && ts.isIdentifier(n) && n.text === 'driverOf') problems.push(`${at(n)}: driverOf outside lib/store/ — call a named store function instead`);
		if (!inStore && ts.isElementAccessExpression(n) && ts.isStringLiteral(n.argumentExpression) && n.argumentExpression.text === 'db')
			problems.push(`${at(n)}: ['db'] reaches the store's private driver — call a named store function instead`);
		ts.forEachChild(n, visit);
	};
	visit(src);
	return problems;
}

describe('layers', () => {
	const files = [...tsFiles(join(ROOT, 'lib')), ...tsFiles(join(ROOT, 'nodes'))];

	it('SQL and the driver stay in lib/store/, and lib/ never imports n8n', () => {
		expect(files.length).toBeGreaterThan(20);
		expect(files.filter((f) => relative(ROOT, f).startsWith(join('lib', 'store'))).length).toBeGreaterThan(3);
		expect(files.flatMap((f) => layerProblems(f))).toEqual([]);
	});

	it('the store index does not hand out the driver', async () => {
		const index = (await import('../../lib/store')) as Record<string, unknown>;
		expect(index.CampaignStore).toBeDefined();
		expect(index.driverOf).toBeUndefined();
	});

	it('names SQL in strings and templates, driver access and n8n imports, and ignores comments', () => {
		const dir = mkdtempSync(join(tmpdir(), 'layers-'));
		const sample = join(dir, 'sample.ts');
		writeFileSync(
			sample,
			[
				"import type { INodeExecutionData } from 'n8n-workflow';",
				"const a = 'SELECT * FROM eca_runs';",
				'const b = `UPDATE eca_runs SET status = ${s}`;',
				'// DELETE FROM eca_runs in a comment is fine',
				"const c = 'INSERT INTO eca_runs (run_id) VALUES ($1)';",
				'const d = driverOf(store);',
				"const e = store['db'];",
				"const f = 'Selected users, deleted from the list';",
				"const g = 'UPDATE eca_enrollments en SET status = $2';",
				"type T = import('n8n-workflow').IDataObject;",
			].join('\n'),
		);
		expect(layerProblems(sample, 'lib/sample.ts')).toEqual([
			'lib/sample.ts:1: lib/ imports n8n-workflow — n8n types belong in nodes/',
			'lib/sample.ts:2: SQL outside lib/store/ ("SELECT * FROM eca_runs") — move it behind a named function in lib/store/',
			'lib/sample.ts:3: SQL outside lib/store/ ("UPDATE eca_runs SET status = ${…}") — move it behind a named function in lib/store/',
			'lib/sample.ts:5: SQL outside lib/store/ ("INSERT INTO eca_runs (run_id) VALUES ($1)") — move it behind a named function in lib/store/',
			'lib/sample.ts:6: driverOf outside lib/store/ — call a named store function instead',
			"lib/sample.ts:7: ['db'] reaches the store's private driver — call a named store function instead",
			'lib/sample.ts:9: SQL outside lib/store/ ("UPDATE eca_enrollments en SET status = $2") — move it behind a named function in lib/store/',
			'lib/sample.ts:10: lib/ imports n8n-workflow — n8n types belong in nodes/',
		]);
		// The same file inside lib/store/ may hold SQL and use the driver, but still not import n8n.
		expect(layerProblems(sample, 'lib/store/sample.ts').map((p) => p.split(': ')[0])).toEqual(['lib/store/sample.ts:1', 'lib/store/sample.ts:10']);
		// nodes/ may import n8n, not hold SQL.
		expect(layerProblems(sample, 'nodes/X/sample.ts').map((p) => p.split(': ')[0])).toEqual(['nodes/X/sample.ts:2', 'nodes/X/sample.ts:3', 'nodes/X/sample.ts:5', 'nodes/X/sample.ts:6', 'nodes/X/sample.ts:7', 'nodes/X/sample.ts:9']);
	});
});
