#!/usr/bin/env bash
# ALTER EXTENSION scrap_sga UPDATE, end to end, from the previous release:
#   1. build 0.1.0 from its own tree (git history: the last commit of 0.1.0) and install it;
#   2. in a cluster with it preloaded, sync from the simulator, twice (data, cursors, history);
#   3. install the current build, restart the server with the new library, ALTER EXTENSION UPDATE;
#   4. data, cursors, run log, audit log and connection are intact; the next sync is incremental;
#      the background worker carries on;
#   5. the catalog the upgrade produced is the catalog of a fresh install of the same version;
#   6. the upgrade script ends with sql/privileges.sql, verbatim.
# Usage: [PG_MAJOR=16] tests/upgrade_test.sh (as root, or a user with sudo). It replaces the
# extension files installed in the test clusters' PostgreSQL and puts the current build back at
# the end. Ends with "N passed; M failed".
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
OLD_VERSION=0.1.0
OLD_COMMIT=0355af4   # the last commit of 0.1.0, as it landed

# same NAME WANT HAVE
same() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "want: $2"$'\n'"have: $3"; fi; }

setup
LIBDIR=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
WORK=$(mktemp -d /tmp/scrap_sga_upgrade.XXXXXX)
chmod 755 "$WORK"
SIM_PID=
exec 3>&1 4>&2
finish() {
    local rc=$?
    exec 1>&3 2>&4
    cluster_stop "$WORK/pg"
    [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true
    git -C "$ROOT" worktree remove --force "$WORK/v$OLD_VERSION" >/dev/null 2>&1 || true
    # The current build goes back in place, as the other suites expect.
    install_extension >/dev/null 2>&1 || { echo "could not reinstall the current build" >&2; rc=1; }
    as_root rm -rf "$WORK"
    end_tally "$rc" || exit 1
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Both releases, packaged into folders of their own. The old tree builds in a target folder of
# its own (sharing one, cargo would report whichever library it built last for both), seeded
# with a copy of the current one so that the dependencies are not compiled again.
if ! git -C "$ROOT" cat-file -e "$OLD_COMMIT^{commit}" 2>/dev/null; then
    fail "commit $OLD_COMMIT ($OLD_VERSION) is in this clone's history" "a shallow clone? fetch the history: git fetch --unshallow"
    exit 1
fi
git -C "$ROOT" worktree add --detach "$WORK/v$OLD_VERSION" "$OLD_COMMIT" >/dev/null 2>&1
if [ "$PG_MAJOR" != 15 ]; then
    # 0.1.0 was released for PostgreSQL 15 alone: its Cargo.toml has no pg16...pg18 feature. The
    # feature line is all it lacks (no code changes): add it to the old tree's manifest, so that the
    # upgrade script runs on this major from a real 0.1.0 catalog built here.
    sed -i "s|^pg15 = .*|&\npg$PG_MAJOR = [\"pgrx/pg$PG_MAJOR\", \"pgrx-tests/pg$PG_MAJOR\"]|" "$WORK/v$OLD_VERSION/Cargo.toml"
    grep -q "^pg$PG_MAJOR = " "$WORK/v$OLD_VERSION/Cargo.toml" || { fail "the pg$PG_MAJOR feature added to $OLD_VERSION's Cargo.toml"; exit 1; }
fi
package_into() { # package_into TREE TARGET_DIR OUT
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$3" > "$WORK/build.log" 2>&1) \
        || { tail -30 "$WORK/build.log" >&2; return 1; }
}
say "building the current tree for PostgreSQL $PG_MAJOR"
package_into "$ROOT" "$EXT_TARGET" "$WORK/new"
mkdir -p "$WORK/old-target"
cp -a "$EXT_TARGET/release" "$WORK/old-target/"
say "building $OLD_VERSION from commit $OLD_COMMIT for PostgreSQL $PG_MAJOR"
if package_into "$WORK/v$OLD_VERSION" "$WORK/old-target" "$WORK/old"; then
    ok "$OLD_VERSION builds for PostgreSQL $PG_MAJOR"
else
    fail "$OLD_VERSION builds for PostgreSQL $PG_MAJOR"
    exit 1
fi
NEW_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$WORK/new$EXTDIR/scrap_sga.control")
same "the old build is $OLD_VERSION" "$OLD_VERSION" "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$WORK/old$EXTDIR/scrap_sga.control")"
[ -f "$WORK/new$EXTDIR/scrap_sga--$OLD_VERSION--$NEW_VERSION.sql" ] && ok "the current build ships scrap_sga--$OLD_VERSION--$NEW_VERSION.sql" \
    || fail "the current build ships scrap_sga--$OLD_VERSION--$NEW_VERSION.sql"

install_build() { # install_build FOLDER: only that build's scripts, each file renamed into place
    rm -f "$EXTDIR"/scrap_sga.control "$EXTDIR"/scrap_sga--*.sql
    install_staged "$1"
}

# 2. The old release at work.
install_build "$WORK/old"
(cd "$ROOT" && cargo build --release -q -p odoo_sim)
SIM_BIN="$ROOT/target/release/odoo_sim"
SIM_LOG=/dev/null sim_start 200 1000
PORT=$(free_port)
cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.database = 'upg'" "scrap_sga.interval = 3600"
PSQL=("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -d upg -c "$1"; }
"${PSQL[@]}" -d postgres -c "CREATE DATABASE upg" -c "CREATE DATABASE fresh"
q "CREATE EXTENSION scrap_sga"
same "CREATE EXTENSION installs $OLD_VERSION" "$OLD_VERSION" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'scrap_sga'")"
q "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
curl -s -X POST "$SIM_URL/sim/touch" -d '{"model": "dimagaz.bc", "ids": [3, 4, 5]}' >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
state() { # what must survive the upgrade
    q "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc t)
           || ' ' || (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc_line t)
           || ' cursors ' || (SELECT string_agg(model || '=' || cursor, ',' ORDER BY model) FROM scrap_sga.model)
           || ' runs ' || (SELECT md5(string_agg(run_id || status || fetched || coalesce(cursor_after::text, ''), ',' ORDER BY run_id)) FROM scrap_sga.sync_run)
           || ' audit ' || (SELECT count(*) || md5(string_agg(audit_id || operation || odoo_id, ',' ORDER BY audit_id)) FROM scrap_sga.audit_log)
           || ' connection ' || (SELECT url || ' ' || login FROM scrap_sga.connection)"
}
before=$(state)
same "$OLD_VERSION synced: 200 orders, 1000 lines, 4 runs" "200 1000 4" "$(q "SELECT (SELECT count(*) FROM scrap_dimagaz_bc) || ' ' || (SELECT count(*) FROM scrap_dimagaz_bc_line) || ' ' || (SELECT count(*) FROM scrap_sga.sync_run)")"

# 3. The new library, a restart, the update.
install_build "$WORK/new"
as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -m fast -w restart >/dev/null
q "ALTER EXTENSION scrap_sga UPDATE"
same "ALTER EXTENSION UPDATE brings $NEW_VERSION" "$NEW_VERSION" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'scrap_sga'")"

# 4. Nothing lost; the next sync goes on from the cursor.
same "mirror rows, cursors, run log, audit log and connection are intact" "$before" "$(state)"
curl -s -X POST "$SIM_URL/sim/touch" -d '{"model": "dimagaz.bc", "ids": [7, 8]}' >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
same "the next sync is incremental and reads only what changed" "dimagaz.bc incremental jsonrpc 2|dimagaz.bc.line incremental jsonrpc 0" \
    "$(q "SELECT string_agg(model || ' ' || mode || ' ' || protocol || ' ' || updated, '|' ORDER BY model) FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)")"
same "verify() finds nothing after the upgrade" "0" "$(q "SELECT count(*) FROM scrap_sga.verify()")"
curl -s -X POST "$SIM_URL/sim/write" -d '{"model": "dimagaz.bc", "id": 9, "values": {"notes": "after the upgrade"}}' >/dev/null
"${PSQL[@]}" -d postgres -c "ALTER SYSTEM SET scrap_sga.interval = 1" -c "SELECT pg_reload_conf()" >/dev/null
worker=""
for _ in $(seq 60); do
    worker=$(q "SELECT notes FROM scrap_dimagaz_bc WHERE id = 9 AND sga_run_id IN (SELECT run_id FROM scrap_sga.sync_run WHERE trigger = 'worker')")
    [ -n "$worker" ] && break
    sleep 0.5
done
same "the background worker carries on after the restart" "after the upgrade" "$worker"

# 5. Upgraded and fresh: one catalog.
"${PSQL[@]}" -d fresh -c "CREATE EXTENSION scrap_sga"
"${PSQL[@]}" -d upg -f "$ROOT/tests/upgrade/describe_catalog.sql" > "$WORK/upgraded.txt"
"${PSQL[@]}" -d fresh -f "$ROOT/tests/upgrade/describe_catalog.sql" > "$WORK/fresh.txt"
if diff -u "$WORK/fresh.txt" "$WORK/upgraded.txt" > "$WORK/catalog.diff"; then
    ok "the upgraded catalog equals a fresh install's ($(grep -c '' "$WORK/fresh.txt") lines compared)"
else
    fail "the upgraded catalog equals a fresh install's" "$(head -60 "$WORK/catalog.diff")"
fi

# 6. Function attributes and grants stated once, the same in the install and every upgrade.
for script in "$ROOT"/sql/scrap_sga--*--*.sql; do
    n=$(grep -c '' "$ROOT/sql/privileges.sql")
    if [ "$(tail -n "$n" "$script")" = "$(cat "$ROOT/sql/privileges.sql")" ]; then
        ok "$(basename "$script") ends with sql/privileges.sql"
    else
        fail "$(basename "$script") ends with sql/privileges.sql"
    fi
done
