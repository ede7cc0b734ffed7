#!/usr/bin/env bash
# Every test suite: unit tests (core, simulator), pgrx tests, pg_regress, end-to-end, Django.
# Installs whatever is missing first. `.ci/run` calls exactly this.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup

WORK=$(mktemp -d /tmp/scrap_sga_test.XXXXXX)
chmod 755 "$WORK"
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; }
trap cleanup EXIT

# Every suite's output goes through `tally`, which adds up its "N passed / N failed" lines so
# the run ends with one total.
TALLY="$WORK/tally"
: > "$TALLY"
tally() { tee /dev/stderr | grep -Eo '[0-9]+ passed; [0-9]+ failed|All [0-9]+ tests passed' >> "$TALLY" || true; }

say "unit tests: core (client, mapping) and simulator"
(cd "$ROOT" && cargo test --release -q -p scrap_sga_core -p odoo_sim --lib --bins 2>&1) | tally

say "pgrx tests (inside a test cluster run as the postgres user)"
as_root install -d -o postgres "$WORK/pgrx"
(cd "$ROOT" && cargo pgrx test pg15 --runas postgres --pgdata "$WORK/pgrx/data" 2>&1 | grep -E '^test |test result|error|panicked') | tally
# `cargo pgrx test` installed its debug build: put the release build back.
install_extension

say "pg_regress (pg_test/)"
bash "$ROOT/pg_test/run.sh" "$WORK/regress" 2>&1 | tally

PORT=$(free_port)
say "end-to-end tests against a real cluster on port $PORT"
cluster_start "$WORK/pg" "$PORT"
(cd "$ROOT" && SGA_PGPORT=$PORT SGA_PGHOST=127.0.0.1 SGA_SIM_BIN="$SIM_BIN" cargo test --release -q -p scrap_sga_e2e --test '*' -- --test-threads=2 2>&1) | tally

passed=$(grep -Eo '^[0-9]+ passed|All [0-9]+' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
printf '\nall suites: %s passed, %s failed\n' "$passed" "$failed"
