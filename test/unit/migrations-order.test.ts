/** Migrations are applied in the order listed and recorded by version: versions must be unique and rise. */
import { MIGRATIONS } from '../../lib/store/migrations';

it('every migration has its own version, each higher than the one before', () => {
	const versions = MIGRATIONS.map((m) => m.version);
	expect(versions.length).toBeGreaterThan(10);
	versions.slice(1).forEach((v, i) => expect({ after: versions[i], version: v, rises: v > versions[i] }).toEqual({ after: versions[i], version: v, rises: true }));
	expect(new Set(MIGRATIONS.map((m) => m.name)).size).toBe(MIGRATIONS.length);
});
