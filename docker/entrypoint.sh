#!/bin/sh
# Installs the packaged community nodes into the n8n user folder (a volume) when missing or
# changed, imports the templates once (main instance only), then runs n8n with the given command.
set -eu
NODES_DIR="${N8N_USER_FOLDER:-/home/node}/.n8n/nodes"
PKG=/opt/email-campaign-agent/package.tgz
SUM=$(sha256sum "$PKG" | cut -d' ' -f1)
mkdir -p "$NODES_DIR"
if [ "$(cat "$NODES_DIR/.email-campaign-agent.sha256" 2>/dev/null || true)" != "$SUM" ]; then
	[ -f "$NODES_DIR/package.json" ] || echo '{"name":"installed-nodes","private":true}' > "$NODES_DIR/package.json"
	(cd "$NODES_DIR" && npm install --omit=dev --legacy-peer-deps --ignore-scripts --no-audit --no-fund "$PKG")
	echo "$SUM" > "$NODES_DIR/.email-campaign-agent.sha256"
fi
if [ "${1:-start}" = "start" ] && [ "${IMPORT_TEMPLATES:-true}" = "true" ] && [ ! -f "$NODES_DIR/.templates-imported" ]; then
	n8n import:workflow --separate --input=/opt/email-campaign-agent/workflows && touch "$NODES_DIR/.templates-imported" || echo "Template import failed; import workflows/*.json from the editor instead" >&2
fi
exec n8n "$@"
