/** Four suites: unit (no network), integration (simulators + real Postgres/Redis), e2e (real n8n), hardening (faults and hostile input). */
const tsJest = ['ts-jest', { diagnostics: false }];
// fast-check properties run from one fixed seed (FC_SEED=random explores): test/helpers/fastCheckSeed.ts.
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'], setupFiles: ['<rootDir>/test/helpers/fastCheckSeed.ts'] };
// The suites that use Postgres choose it once per run, before the workers start: the machine's own,
// else an embedded one (test/helpers/services.ts). The same module in several projects runs once.
const postgres = { globalSetup: '<rootDir>/test/helpers/globalSetup.ts', globalTeardown: '<rootDir>/test/helpers/globalTeardown.ts' };
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, ...postgres, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, ...postgres, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...base, ...postgres, displayName: 'hardening', testMatch: ['<rootDir>/test/hardening/**/*.test.ts'] },
  ],
};
