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
# the run ends with one total. The output goes on through this process's own stdout (reopening
# /dev/stderr would give a second file offset and garble a log file holding both streams).
TALLY="$WORK/tally"
: > "$TALLY"
tally() {
    tee "$WORK/suite.out"
    grep -Eo '[0-9]+ passed; [0-9]+ failed|All [0-9]+ tests passed' "$WORK/suite.out" >> "$TALLY" || true
}

say "the repository is self-contained: nothing refers to the shared/ folder beside a clone"
# A clone alone must build and pass: a file outside the repository is no input.
if refs=$(cd "$ROOT" && grep -rnE '\.\./shared' --exclude-dir=target --exclude-dir=.git --exclude-dir=.venv --exclude='*.md' . 2>/dev/null); then
    printf '%s\n' "$refs" >&2
    echo "0 passed; 1 failed" >> "$TALLY"
    say "these files read the shared/ folder beside the clone: copy what they need into the repository"
    exit 1
fi
echo "1 passed; 0 failed" >> "$TALLY"

say "lints: every unsafe block in the extension says why it is sound (clippy, undocumented_unsafe_blocks)"
if (cd "$ROOT" && cargo clippy -q -p scrap_sga 2>&1 | tee "$WORK/clippy.out" >&2) && ! grep -q '^error' "$WORK/clippy.out"; then
    echo "1 passed; 0 failed" >> "$TALLY"
else
    echo "0 passed; 1 failed" >> "$TALLY"
fi

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
cluster_start "$WORK/pg" "$PORT"
# The whole suite twice, the simulator playing Odoo 18 (JSON-RPC) then Odoo 20 (JSON-2, with
# 19's datetime comparisons), with the same value-for-value checks. protocols.rs names the
# versions it plays itself, so it runs once.
e2e() {
    (cd "$ROOT" && SGA_ODOO_VERSION=$1 SGA_PGPORT=$PORT SGA_PGHOST=127.0.0.1 SGA_SIM_BIN="$SIM_BIN" SGA_PG_BIN="$PG_BIN" \
        cargo test --release -q -p scrap_sga_e2e "${@:2}" -- --test-threads=2 2>&1) | tally
}
say "end-to-end tests on port $PORT, the simulator playing Odoo 18 (JSON-RPC)"
e2e 18 --test '*'
say "end-to-end tests on port $PORT, the simulator playing Odoo 20 (JSON-2)"
e2e 20 --test first_sync --test incremental --test failures --test worker --test freshness --test parallel --test hostile

say "Django (examples/django): the app pip-installed, generated models, derived API and admin on three schemas, the change feed"
DJ="$ROOT/examples/django"
# A fresh virtual environment, and the app installed into it by pip from its directory, as a
# project installs it: the tests import the installed copy, never the source tree.
python3 -m venv "$WORK/django-venv"
(cd "$DJ" && "$WORK/django-venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt)
SIM_LOG=/dev/null sim_start 120 500
DJ_SIM_PID=$SIM_PID
# `|| true`: a failing run must still reach the tally below, and the simulator be stopped.
# SGA_SIM_BIN: tests/test_schemas.py starts simulators of its own, serving other schemas.
(cd "$DJ" && SGA_SIM_URL=$SIM_URL SGA_SIM_BIN="$SIM_BIN" BRASG_DB_HOST=127.0.0.1 BRASG_DB_PORT=$PORT BRASG_DB_NAME=brasg \
    "$WORK/django-venv/bin/python" manage.py test --noinput 2>&1) | tee "$WORK/django.log" || true
kill "$DJ_SIM_PID" 2>/dev/null || true
# Django's runner prints "Ran N tests" and then "OK" or "FAILED (...)".
dj_ran=$(grep -Eo '^Ran [0-9]+ test' "$WORK/django.log" | grep -Eo '[0-9]+' || echo 0)
if grep -q '^OK' "$WORK/django.log"; then echo "$dj_ran passed; 0 failed" >> "$TALLY"; else echo "0 passed; $dj_ran failed" >> "$TALLY"; exit 1; fi

# These two replace the extension files installed above, and put the current build back at the end.
say "upgrade: 0.1.0 built from its commit, synced, ALTER EXTENSION UPDATE, restart; catalog against a fresh install"
bash "$ROOT/tests/upgrade_test.sh" 2>&1 | tally

# Last: installing and removing the package replaces the extension files installed above (the
# test puts them back at the end).
say "Debian package: build, apt-get install, sync from the installed files, apt-get remove"
bash "$ROOT/tests/package_test.sh" 2>&1 | tally

passed=$(grep -Eo '^[0-9]+ passed|All [0-9]+' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
printf '\nall suites: %s passed, %s failed\n' "$passed" "$failed"
