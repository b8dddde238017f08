// n8n's own lint rules for community packages (eslint-plugin-n8n-nodes-base), with TypeScript parsing.
import tseslint from 'typescript-eslint';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';

const plugin = { 'n8n-nodes-base': n8nNodesBase };

export default [
	{ ignores: ['dist/**', 'node_modules/**', 'test/**', 'bench/**', 'lib/**', 'scripts/**', '**/*.js', '**/*.mjs'] },
	{
		files: ['package.json'],
		languageOptions: { parser: (await import('jsonc-eslint-parser')).default },
		plugins: plugin,
		rules: { ...n8nNodesBase.configs.community.rules },
	},
	{
		files: ['credentials/**/*.ts'],
		languageOptions: { parser: tseslint.parser, parserOptions: { sourceType: 'module' } },
		plugins: plugin,
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			// As in n8n-nodes-starter: this rule is for docs slugs of n8n's main repository; community packages link a URL.
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		languageOptions: { parser: tseslint.parser, parserOptions: { sourceType: 'module' } },
		plugins: plugin,
		rules: { ...n8nNodesBase.configs.nodes.rules },
	},
];
