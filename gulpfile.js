const { src, dest, task } = require('gulp');

// n8n loads a node's icon and codex (.node.json) from next to its compiled .node.js file, so they travel into dist.
function copyAssets() {
	return src(['nodes/**/*.{png,svg}', 'nodes/**/*.node.json', 'credentials/**/*.{png,svg}'], { base: '.', encoding: false }).pipe(dest('dist'));
}

task('build:icons', copyAssets);
