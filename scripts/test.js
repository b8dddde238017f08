#!/usr/bin/env node
// The README's test command: unit and integration suites (simulators, real Postgres/Redis), the
// hardening suite (with its report), then the real-n8n end-to-end suite.
// PGlite loads its WebAssembly through dynamic import(), which jest's VM needs --experimental-vm-modules for.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const jest = path.join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings=ExperimentalWarning`.trim() };
// jest's --selectProjects takes every word after it as a project name: test paths given after it
// (`--selectProjects unit <path to a test file>`) are moved to the front, where jest reads them as paths.
const args = process.argv.slice(2);
const isPath = (a) => !a.startsWith('-') && (a.includes('/') || /\.[cm]?[jt]s$/.test(a));
const extra = [...args.filter(isPath), ...args.filter((a) => !isPath(a))];
const steps = extra.length
	? [[jest, ...extra]]
	: [
			[jest, '--selectProjects', 'unit', 'integration'],
			[path.join(__dirname, 'hardening.js')],
			[jest, '--selectProjects', 'e2e', '--runInBand'],
		];
for (const args of steps) {
	const r = spawnSync(process.execPath, args, { stdio: 'inherit', env });
	if (r.status !== 0) process.exit(r.status ?? 1);
}
