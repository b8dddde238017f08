#!/usr/bin/env node
// Runs the hardening suite and prints its report: a table, then the same figures as one JSON object on the last line.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eca-hardening-'));
const jest = path.join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');
const env = { ...process.env, HARDENING_TALLY_DIR: dir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings=ExperimentalWarning`.trim() };
const r = spawnSync(process.execPath, [jest, '--selectProjects', 'hardening', '--runInBand', ...process.argv.slice(2)], { stdio: 'inherit', env });

const file = path.join(dir, 'tallies.jsonl');
const rows = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const keys = ['faults', 'inputs', 'rejected', 'duplicates', 'lost', 'attacks', 'let_in'];
const total = Object.fromEntries(keys.map((k) => [k, rows.reduce((n, t) => n + (t[k] ?? 0), 0)]));
const pad = (s, n) => String(s).padEnd(n);
console.log('\nHardening report');
console.log(pad('suite', 28) + keys.map((k) => pad(k, 11)).join(''));
for (const t of rows) console.log(pad(t.suite, 28) + keys.map((k) => pad(t[k] ?? 0, 11)).join(''));
console.log(pad('total', 28) + keys.map((k) => pad(total[k], 11)).join(''));
if (r.status !== 0) console.log('(some hardening tests failed: see above)');
console.log(JSON.stringify(total));
process.exit(r.status ?? 1);
