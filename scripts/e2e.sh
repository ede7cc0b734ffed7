#!/usr/bin/env bash
# The end-to-end tests alone, or some of them, against a throwaway cluster: what a developer runs
# while working on one behaviour (scripts/test.sh runs every suite).
#
# Usage: scripts/e2e.sh [cargo test arguments]
#   scripts/e2e.sh --test failures                  one file of tests/tests/
#   scripts/e2e.sh --test freshness -- deletions    the tests of a file whose name has "deletions"
#   SGA_ODOO_VERSION=20 scripts/e2e.sh --test '*'   every file, the simulator playing Odoo 20
#   PG_MAJOR=17 scripts/e2e.sh --test worker        on PostgreSQL 17 (15 by default; 16, 17, 18 alike)
#   SGA_E2E_NO_BUILD=1 ...                          skip building and installing the extension
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
if [ -z "${SGA_E2E_NO_BUILD:-}" ]; then
    install_extension
else
    SIM_BIN="$ROOT/target/release/odoo_sim"
fi

WORK=$(mktemp -d /tmp/scrap_sga_e2e.XXXXXX)
chmod 755 "$WORK"
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(free_port)
cluster_start "$WORK/pg" "$PORT"
say "end-to-end tests on port $PORT, the simulator playing Odoo ${SGA_ODOO_VERSION:-18}"
# Arguments after a `--` go to the test binaries; --test-threads=2 unless given.
args=("$@")
[[ " ${args[*]} " == *" -- "* ]] || args+=(--)
[[ " ${args[*]} " == *"--test-threads"* ]] || args+=(--test-threads=2)
cd "$ROOT"
SGA_ODOO_VERSION=${SGA_ODOO_VERSION:-18} SGA_PGPORT=$PORT SGA_PGHOST=127.0.0.1 SGA_SIM_BIN="$SIM_BIN" SGA_PG_BIN="$PG_BIN" \
    cargo test --profile checks -q -p scrap_sga_e2e "${args[@]}"
