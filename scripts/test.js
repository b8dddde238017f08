#!/usr/bin/env node
// The README's test command: unit, integration (simulators, real Postgres/Redis) and real-n8n e2e suites.
// PGlite loads its WebAssembly through dynamic import(), which jest's VM needs --experimental-vm-modules for.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const jest = path.join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings=ExperimentalWarning`.trim() };
const extra = process.argv.slice(2);
const suites = extra.length ? [extra] : [['--selectProjects', 'unit', 'integration'], ['--selectProjects', 'e2e', '--runInBand']];
for (const args of suites) {
	const r = spawnSync(process.execPath, [jest, ...args], { stdio: 'inherit', env });
	if (r.status !== 0) process.exit(r.status ?? 1);
}
