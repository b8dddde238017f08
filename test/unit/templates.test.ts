/**
 * workflows/*.json are exactly what scripts/templates/build-templates.ts makes: a template edited by
 * hand drifts from its source. And the builder refuses, before writing anything, a template that sets
 * a parameter or a choice its node does not have.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PKG } from '../../scripts/templates/nodeCheck';
import { buildTemplates, makeTemplates, type Template } from '../../scripts/templates/build-templates';

const ROOT = join(__dirname, '..', '..');
const tsx = require.resolve('tsx/cli');

it('regenerating the templates reproduces workflows/ byte for byte, and makes no template that is not there', () => {
	const out = mkdtempSync(join(tmpdir(), 'eca-templates-'));
	try {
		const r = spawnSync(process.execPath, [tsx, join(ROOT, 'scripts', 'templates', 'build-templates.ts')], { env: { ...process.env, TEMPLATES_OUT: out }, encoding: 'utf8', timeout: 60_000 });
		expect([r.status, r.status === 0 ? '' : r.stderr]).toEqual([0, '']);
		const made = readdirSync(out).sort();
		const committed = readdirSync(join(ROOT, 'workflows')).filter((f) => f.endsWith('.json')).sort();
		expect(made).toEqual(committed);
		for (const f of made) expect([f, readFileSync(join(out, f), 'utf8')]).toEqual([f, readFileSync(join(ROOT, 'workflows', f), 'utf8')]);
	} finally {
		rmSync(out, { recursive: true, force: true });
	}
});

describe('the builder refuses a template its nodes do not accept', () => {
	/** The real templates with one node's parameters changed; the builder is asked to write them. */
	function buildWith(file: string, nodeName: string, change: (parameters: Record<string, unknown>) => void): { error: Error; wrote: boolean } {
		const made: Record<string, Template> = makeTemplates();
		const n = made[file].nodes.find((x) => x.name === nodeName)!;
		expect(n.type.startsWith(`${PKG}.`)).toBe(true);
		change(n.parameters);
		const out = join(mkdtempSync(join(tmpdir(), 'eca-templates-bad-')), 'workflows');
		try {
			let error: Error | undefined;
			try {
				buildTemplates(out, made);
			} catch (e) {
				error = e as Error;
			}
			expect(error).toBeInstanceOf(Error);
			return { error: error!, wrote: existsSync(out) };
		} finally {
			rmSync(join(out, '..'), { recursive: true, force: true });
		}
	}

	it('with a misspelt parameter, naming template, node and parameter, and writes nothing', () => {
		const { error, wrote } = buildWith('campaign-pipeline.json', 'Send Email (SendGrid)', (p) => {
			p.dryRum = p.dryRun;
			delete p.dryRun;
		});
		expect(error.message).toContain(`campaign-pipeline.json: node "Send Email (SendGrid)" (${PKG}.sendEmailSendGrid), parameter dryRum: no such parameter`);
		expect(wrote).toBe(false);
	});

	it('with an option value the node does not offer (top level, in a list, inside a collection)', () => {
		let r = buildWith('sendgrid-event-tracking.json', 'SendGrid Trigger', (p) => {
			p.registration = 'automatic';
		});
		expect(r.error.message).toMatch(/sendgrid-event-tracking\.json: node "SendGrid Trigger" \(.*\.sendGridTrigger\), parameter registration: "automatic" is not one of/);
		expect(r.wrote).toBe(false);
		r = buildWith('sendgrid-event-tracking.json', 'SendGrid Trigger', (p) => {
			p.events = [...(p.events as string[]), 'opened'];
		});
		expect(r.error.message).toMatch(/parameter events: "opened" is not one of its choices/);
		r = buildWith('campaign-pipeline.json', 'Generate Email Copy', (p) => {
			p.options = { onLlmFailure: 'skip-it' };
		});
		expect(r.error.message).toMatch(/node "Generate Email Copy" \(.*\), parameter options\.onLlmFailure: "skip-it" is not one of/);
		expect(r.wrote).toBe(false);
	});

	it('as a script: exits non-zero with the problem on stderr', () => {
		// The script's entry point (main) in its own process, with one template changed the way a typo would.
		const dir = mkdtempSync(join(tmpdir(), 'eca-templates-cli-'));
		try {
			const script = join(dir, 'bad.ts');
			writeFileSync(
				script,
				[
					`const b = require(${JSON.stringify(join(ROOT, 'scripts', 'templates', 'build-templates.ts'))});`,
					`const make = b.templates['campaign-dashboard.json'];`,
					`b.templates['campaign-dashboard.json'] = () => { const w = make(); w.nodes.find((n) => n.name === 'Campaign Dashboard').parameters.signIn = 'password'; return w; };`,
					`process.env.TEMPLATES_OUT = ${JSON.stringify(join(dir, 'out'))};`,
					`b.main();`,
				].join('\n'),
			);
			const r = spawnSync(process.execPath, [tsx, script], { encoding: 'utf8', timeout: 60_000 });
			expect(r.status).not.toBe(0);
			expect(r.stderr).toMatch(/campaign-dashboard\.json: node "Campaign Dashboard" \(.*\.campaignDashboard\), parameter signIn: "password" is not one of/);
			expect(existsSync(join(dir, 'out'))).toBe(false);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
