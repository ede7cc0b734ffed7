#!/usr/bin/env bash
# The fault soak (issue 17): the scheduler syncs every second for SOAK_SECONDS (240) while the
# simulator injects every fault it knows at random and Odoo changes; then the mirror must equal
# Odoo value for value, with no duplicate. Prints faults by kind, runs failed, differences.
#
# Usage: bench/soak.sh        SOAK_SECONDS=600 SOAK_SEED=7 SGA_ODOO_VERSION=20 bench/soak.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
cd "$ROOT"
SGA_ODOO_VERSION=${SGA_ODOO_VERSION:-18} SGA_SIM_BIN="$SIM_BIN" SGA_PG_BIN="$PG_BIN" \
    cargo test --profile checks -q -p scrap_sga_e2e --test soak -- --ignored --nocapture
