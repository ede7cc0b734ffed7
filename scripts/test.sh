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

say "Django (examples/django): the app pip-installed, generated models, filters, OpenAPI schema"
DJ="$ROOT/examples/django"
# A fresh virtual environment, and the app installed into it by pip from its directory, as a
# project installs it: the tests import the installed copy, never the source tree.
python3 -m venv "$WORK/django-venv"
(cd "$DJ" && "$WORK/django-venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt)
SIM_LOG=/dev/null sim_start 120 500
DJ_SIM_PID=$SIM_PID
# `|| true`: a failing run must still reach the tally below, and the simulator be stopped.
(cd "$DJ" && SGA_SIM_URL=$SIM_URL BRASG_DB_HOST=127.0.0.1 BRASG_DB_PORT=$PORT BRASG_DB_NAME=brasg \
    "$WORK/django-venv/bin/python" manage.py test --noinput 2>&1) | tee "$WORK/django.log" || true
kill "$DJ_SIM_PID" 2>/dev/null || true
# Django's runner prints "Ran N tests" and then "OK" or "FAILED (...)".
dj_ran=$(grep -Eo '^Ran [0-9]+ test' "$WORK/django.log" | grep -Eo '[0-9]+' || echo 0)
if grep -q '^OK' "$WORK/django.log"; then echo "$dj_ran passed; 0 failed" >> "$TALLY"; else echo "0 passed; $dj_ran failed" >> "$TALLY"; exit 1; fi

# Last: installing and removing the package replaces the extension files installed above (the
# test puts them back at the end).
say "Debian package: build, apt-get install, sync from the installed files, apt-get remove"
bash "$ROOT/tests/package_test.sh" 2>&1 | tally

passed=$(grep -Eo '^[0-9]+ passed|All [0-9]+' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
printf '\nall suites: %s passed, %s failed\n' "$passed" "$failed"
