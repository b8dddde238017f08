/** docker-compose.yml is valid for Compose (checked with Debian's docker-compose; no engine runs here). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

it('passes docker-compose config -q and runs main + queue-mode workers with the package', () => {
	const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
	if (which.status !== 0) throw new Error('docker-compose is not installed: apt-get install -y docker-compose (the .ci/run script does this)');
	const r = spawnSync('docker-compose', ['--env-file', '.env.example', 'config', '-q'], { encoding: 'utf8' });
	expect(r.stderr).toBe('');
	expect(r.status).toBe(0);
	const full = spawnSync('docker-compose', ['--env-file', '.env.example', 'config'], { encoding: 'utf8' }).stdout;
	for (const expected of ['EXECUTIONS_MODE: queue', 'N8N_METRICS: "true"', 'N8N_SENTRY_DSN', 'healthcheck', 'n8n-worker', 'redis', 'postgres'])
		expect(full).toContain(expected);
	expect(readFileSync('docker/entrypoint.sh', 'utf8')).toMatch(/import:workflow --separate --input=\/opt\/email-campaign-agent\/workflows/);
});
