/** workflows/*.json are exactly what scripts/templates/build-templates.js makes: a template edited by hand drifts from its source. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('regenerating the templates reproduces workflows/ byte for byte, and makes no template that is not there', () => {
	const out = mkdtempSync(join(tmpdir(), 'eca-templates-'));
	try {
		const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'templates', 'build-templates.js')], { env: { ...process.env, TEMPLATES_OUT: out }, encoding: 'utf8' });
		expect(r.status).toBe(0);
		const made = readdirSync(out).sort();
		const committed = readdirSync(join(__dirname, '..', '..', 'workflows')).filter((f) => f.endsWith('.json')).sort();
		expect(made).toEqual(committed);
		for (const f of made) expect([f, readFileSync(join(out, f), 'utf8')]).toEqual([f, readFileSync(join(__dirname, '..', '..', 'workflows', f), 'utf8')]);
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});
