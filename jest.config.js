/** Four suites: unit (no network), integration (simulators + real Postgres/Redis), e2e (real n8n), hardening (faults and hostile input). */
const tsJest = ['ts-jest', { diagnostics: false }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...base, displayName: 'hardening', testMatch: ['<rootDir>/test/hardening/**/*.test.ts'] },
  ],
};
