// Lint. The package's n8n face (package.json, nodes, credentials) follows n8n's rules for community
// packages: eslint-plugin-n8n-nodes-base and @n8n/eslint-plugin-community-nodes (the rules this package
// cannot follow are off below, each with its reason, and listed in the README). All TypeScript —
// lib/, scripts/, test/, bench/ too — gets typescript-eslint's recommended rules.
import tseslint from 'typescript-eslint';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';
import community from '@n8n/eslint-plugin-community-nodes';

const plugins = { 'n8n-nodes-base': n8nNodesBase, ...community.configs.recommendedWithoutN8nCloudSupport.plugins };
const ts = { parser: tseslint.parser, parserOptions: { sourceType: 'module' } };

/** @n8n/eslint-plugin-community-nodes (without n8n Cloud support: see no-runtime-dependencies), minus what this package cannot follow. */
const communityRules = {
	...community.configs.recommendedWithoutN8nCloudSupport.rules,
	// The package's work needs runtime dependencies (PGlite, pg, LangGraph, @sendgrid/client, ioredis, zod...): README, Design.
	'@n8n/community-nodes/no-runtime-dependencies': 'off',
	// One icon per node, drawn to read on both themes; no separate dark variants.
	'@n8n/community-nodes/icon-prefer-themed-variants': 'off',
	// Nodes and their helpers throw CampaignErrors (field, hint, item); nodeError / errorItem turn each into a
	// NodeOperationError or NodeApiError at the execute boundary (nodes/shared/context.ts), one mapping for all.
	'@n8n/community-nodes/require-node-api-error': 'off',
};

/** eslint-plugin-n8n-nodes-base's nodes rules, minus two that n8n's newer plugin replaced: they ask for the literal 'main', node-connection-type-literal for NodeConnectionTypes.Main. */
const nodesBaseRules = {
	...n8nNodesBase.configs.nodes.rules,
	'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
	'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
};

export default [
	{ ignores: ['dist/**', 'node_modules/**', '**/*.js', '**/*.mjs', 'test-artifacts/**'] },
	{
		files: ['package.json'],
		languageOptions: { parser: (await import('jsonc-eslint-parser')).default },
		plugins,
		rules: { ...n8nNodesBase.configs.community.rules, ...communityRules },
	},
	{
		files: ['credentials/**/*.ts'],
		languageOptions: ts,
		plugins,
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			...communityRules,
			// As in n8n-nodes-starter: this rule is for docs slugs of n8n's main repository; community packages link a URL.
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		languageOptions: ts,
		plugins,
		rules: { ...nodesBaseRules, ...communityRules },
	},
	...tseslint.configs.recommended.map((c) => ({ ...c, files: ['**/*.ts'] })),
	{
		files: ['**/*.ts'],
		rules: {
			// A leading underscore marks a value left out on purpose (a destructured key dropped, an unused callback argument).
			'@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
		},
	},
];
