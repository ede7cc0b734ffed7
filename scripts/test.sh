#!/usr/bin/env bash
# Every test suite: unit tests (core, simulator), pgrx tests, pg_regress, end-to-end, Django,
# upgrade, Debian package, for PostgreSQL 15; the extension's suites for 16, 17 and 18.
# Installs whatever is missing first. `.ci/run` calls exactly this.
#
# Usage: scripts/test.sh                          15 (every suite), then 16, 17, 18
#        PG_MAJOR=16 scripts/test.sh              one major alone
#        SGA_TEST_MAJORS="15 18" scripts/test.sh  these majors, in this order
#        SGA_TEST_BOTH_PROTOCOLS=1                on 16-18 too, the protocol-dependent end-to-end
#                                                 files under JSON-RPC as well (15 always does)
# Each major's closing line gives its time; the run ends with one total.
set -euo pipefail

if [ -z "${PG_MAJOR:-}" ]; then
    # The whole run: a cluster of Debian's PostgreSQL 15 with a scrap_sga build preloaded from
    # the system's folders runs beside every suite, and must still be up, with the same
    # scheduler, at the end (tests/coexist_test.sh); then one run of this script per major.
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    RUN=$(mktemp -d /tmp/scrap_sga_run.XXXXXX)
    chmod 755 "$RUN"
    summary=()
    passed=0 failed=0 status=0
    add_tally() { # add_tally LOG CLOSING_LINE_REGEX: the "N passed, M failed" of a run's closing line
        local line
        line=$(grep -E "$2" "$1" | grep -Eo '[0-9]+ passed[,;] [0-9]+ failed' | tail -1 || true)
        [ -n "$line" ] || line="0 passed, 1 failed"   # a run that stopped before its closing line
        passed=$((passed + $(echo "$line" | grep -Eo '^[0-9]+')))
        failed=$((failed + $(echo "$line" | grep -Eo '[0-9]+ failed' | grep -Eo '[0-9]+')))
    }
    coexist=0
    if PG_MAJOR=15 bash "$here/../tests/coexist_test.sh" start "$RUN/coexist" 2>&1 | tee "$RUN/coexist-start.log"; then
        coexist=1
    else
        status=1
        summary+=("coexistence cluster: could not start")
        add_tally "$RUN/coexist-start.log" '^[0-9]+ passed; [0-9]+ failed$'
    fi
    for major in ${SGA_TEST_MAJORS:-15 16 17 18}; do
        t0=$(date +%s)
        rc=0
        PG_MAJOR=$major bash "$here/test.sh" 2>&1 | tee "$RUN/pg$major.log" || rc=$?
        secs=$(($(date +%s) - t0))
        [ "$rc" -eq 0 ] || status=1
        add_tally "$RUN/pg$major.log" "^all suites on PostgreSQL $major: "
        closing=$(grep -E "^all suites on PostgreSQL $major: " "$RUN/pg$major.log" | grep -Eo '[0-9]+ passed, [0-9]+ failed' || true)
        summary+=("PostgreSQL $major: ${closing:-stopped at a failing suite (above)}, $((secs / 60)) min $((secs % 60)) s")
    done
    if [ "$coexist" -eq 1 ]; then
        PG_MAJOR=15 bash "$here/../tests/coexist_test.sh" check "$RUN/coexist" 2>&1 | tee "$RUN/coexist.log" || status=1
        add_tally "$RUN/coexist.log" '^[0-9]+ passed; [0-9]+ failed$'
        summary+=("coexistence: $(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$RUN/coexist.log" | tail -1 | tr ';' ',')")
    fi
    rm -rf "$RUN"
    printf '\n'
    printf '%s\n' "${summary[@]}"
    printf 'total: %s passed, %s failed\n' "$passed" "$failed"
    [ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
    exit
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Each step says how long the run has taken so far (the closing lines give each major's total).
step() { say "[$((SECONDS / 60)) min $((SECONDS % 60)) s] $*"; }
setup
step "PostgreSQL $PG_MAJOR: $("$PG_CONFIG" --version), $PG_BIN"

WORK=$(mktemp -d /tmp/scrap_sga_test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    [ -z "${UPGRADE_BUILD:-}" ] || kill -TERM -- "-$UPGRADE_BUILD" 2>/dev/null || true
    [ -z "${DJANGO:-}" ] || kill -TERM -- "-$DJANGO" 2>/dev/null || true
    cluster_stop "$WORK/pg"
    as_root rm -rf "$WORK"
}
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

if [ "$PG_MAJOR" = 15 ]; then
    step "the repository is self-contained: nothing refers to the shared/ folder beside a clone"
    # A clone alone must build and pass: a file outside the repository is no input.
    if refs=$(cd "$ROOT" && grep -rnE '\.\./shared' --exclude-dir=target --exclude-dir=.git --exclude-dir=.venv --exclude='*.md' . 2>/dev/null); then
        printf '%s\n' "$refs" >&2
        echo "0 passed; 1 failed" >> "$TALLY"
        step "these files read the shared/ folder beside the clone: copy what they need into the repository"
        exit 1
    fi
    echo "1 passed; 0 failed" >> "$TALLY"

    step "lints: every unsafe block in the extension says why it is sound (clippy, undocumented_unsafe_blocks)"
    if (cd "$ROOT" && cargo clippy -q -p scrap_sga 2>&1 | tee "$WORK/clippy.out" >&2) && ! grep -q '^error' "$WORK/clippy.out"; then
        echo "1 passed; 0 failed" >> "$TALLY"
    else
        echo "0 passed; 1 failed" >> "$TALLY"
    fi
    step "lints: no two modules of the extension, of core or of the simulator use each other (scripts/module_cycles.py)"
    if python3 "$ROOT/scripts/module_cycles.py" "$ROOT/src" "$ROOT/core/src" "$ROOT/simulator/src"; then
        echo "1 passed; 0 failed" >> "$TALLY"
    else
        echo "0 passed; 1 failed" >> "$TALLY"
    fi

    step "unit tests: core (client, mapping) and simulator"
    (cd "$ROOT" && cargo test --profile checks -q -p scrap_sga_core -p odoo_sim --lib --bins 2>&1) | tally
fi

step "pgrx tests, PostgreSQL $PG_MAJOR (inside a test cluster run as the postgres user)"
as_root install -d -o postgres "$WORK/pgrx"
(cd "$ROOT" && CARGO_TARGET_DIR="$EXT_TARGET" cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$WORK/pgrx/data" 2>&1 \
    | grep -E '^test |test result|error|panicked') | tally
# `cargo pgrx test` installed its debug build: put the release build back.
install_extension

step "pg_regress (pg_test/), PostgreSQL $PG_MAJOR"
bash "$ROOT/pg_test/run.sh" "$WORK/regress" 2>&1 | tally

# The earlier releases the upgrade test starts from, built for this major while the suites
# below run (most of their time is spent waiting on the simulator and on timers).
# A process group of its own (setsid), so that a run that stops early stops it too (cleanup).
setsid bash "$ROOT/tests/upgrade_test.sh" build > "$WORK/upgrade-build.log" 2>&1 &
UPGRADE_BUILD=$!

if [ "$PG_MAJOR" = 15 ]; then
    # Beside the end-to-end tests, which mostly wait on the simulator and on timers: a cluster
    # and a simulator of its own. Its output is shown, and counted, once it is over (below).
    step "Django (examples/django), beside the end-to-end tests: the app pip-installed, generated models, derived API and admin on three schemas, the browser test, the quick start, the change feed"
    setsid bash "$ROOT/tests/django_test.sh" > "$WORK/django.out" 2>&1 &
    DJANGO=$!
fi

PORT=$(free_port)
cluster_start "$WORK/pg" "$PORT"
# The whole suite as Odoo 20 (JSON-2, with 19's datetime comparisons); on 15, the files whose
# behaviour depends on the protocol run again as Odoo 18 (JSON-RPC), with the same
# value-for-value checks: its errors and how it carries them (failures, hostile), its datetime
# comparisons and fingerprint method (incremental, freshness, display, resume). The others do
# not depend on it (first_sync, worker, parallel, audit, reference), and protocols.rs names the
# versions it plays itself. SGA_TEST_BOTH_PROTOCOLS=1 runs the second list on 16-18 too.
BY_PROTOCOL=(--test failures --test hostile --test incremental --test freshness --test display --test resume)
e2e() {
    (cd "$ROOT" && SGA_ODOO_VERSION=$1 SGA_PGPORT=$PORT SGA_PGHOST=127.0.0.1 SGA_SIM_BIN="$SIM_BIN" SGA_PG_BIN="$PG_BIN" \
        cargo test --profile checks -q -p scrap_sga_e2e "${@:2}" -- --test-threads=2 2>&1) | tally
}
step "end-to-end tests on PostgreSQL $PG_MAJOR, port $PORT, the simulator playing Odoo 20 (JSON-2), every file"
e2e 20 --test '*'
if [ "$PG_MAJOR" = 15 ] || [ -n "${SGA_TEST_BOTH_PROTOCOLS:-}" ]; then
    step "end-to-end tests on PostgreSQL $PG_MAJOR, port $PORT, the simulator playing Odoo 18 (JSON-RPC), the files that depend on the protocol"
    e2e 18 "${BY_PROTOCOL[@]}"
fi

if [ "$PG_MAJOR" = 15 ]; then
    step "Django (examples/django): its result"
    wait "$DJANGO" || true
    DJANGO=
    tally < "$WORK/django.out"

    step "scripts/demo.sh runs to the end (its own cluster, the simulator playing Odoo 20)"
    bash "$ROOT/tests/demo_test.sh" 2>&1 | tally
fi
cluster_stop "$WORK/pg"

# These replace the extension files installed above, and put the current build back at the end.
step "upgrade on PostgreSQL $PG_MAJOR: each earlier release built from its commit, synced, ALTER EXTENSION UPDATE, restart; catalog against a fresh install"
# What the background build said, if it failed: the upgrade test builds what is missing again.
wait "$UPGRADE_BUILD" || tail -20 "$WORK/upgrade-build.log" >&2
UPGRADE_BUILD=
bash "$ROOT/tests/upgrade_test.sh" 2>&1 | tally

if [ "$PG_MAJOR" = 15 ]; then
    # Last: installing and removing the package replaces the extension files installed above (the
    # test puts them back at the end).
    step "Debian package: build, apt-get install, sync from the installed files, apt-get remove"
    bash "$ROOT/tests/package_test.sh" 2>&1 | tally
else
    step "package for PostgreSQL $PG_MAJOR: its files, and a $PG_MAJOR cluster loading them from the package's layout"
    bash "$ROOT/tests/package_layout_test.sh" 2>&1 | tally
fi

passed=$(grep -Eo '^[0-9]+ passed|All [0-9]+' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$TALLY" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
printf '\nall suites on PostgreSQL %s: %s passed, %s failed\n' "$PG_MAJOR" "$passed" "$failed"
[ "$failed" -eq 0 ]
