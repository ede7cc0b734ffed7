#!/usr/bin/env bash
# ALTER EXTENSION scrap_sga UPDATE, end to end, from each earlier release (UPGRADE_FROM, by default
# every one: 0.1.0, 0.2.0 and 0.3.0):
#   1. build the old release from its own tree (git history: its last commit) and install it;
#   2. in a cluster with it preloaded, sync from the simulator, twice (data, cursors, history);
#   3. install the current build, restart the server with the new library, ALTER EXTENSION UPDATE;
#   4. data, cursors, run log, audit log and connection are intact; the next sync is incremental,
#      converts the amount columns (double precision before 0.3.0) to numeric in place, every
#      value kept; the background worker carries on;
#   5. the catalog the upgrade produced is the catalog of a fresh install of the same version;
#   6. the upgrade script to the current version ends with sql/privileges.sql, verbatim.
# Usage: [PG_MAJOR=16] tests/upgrade_test.sh (as root, or a user with sudo). It replaces the
# extension files of the test clusters' PostgreSQL and puts the current build back at the end.
# Ends with "N passed; M failed".
#        [PG_MAJOR=16] tests/upgrade_test.sh build: only step 1, each earlier release built for this
# major (once: kept under target/upgrade/pgNN/ by commit), so that scripts/test.sh can build them
# while other suites run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# Each release as it landed: its last commit.
declare -A RELEASE_COMMIT=([0.1.0]=0355af4 [0.2.0]=6c87c9e [0.3.0]=aa68550)
UPGRADE_FROM=${UPGRADE_FROM:-0.1.0 0.2.0 0.3.0}

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
    local rc=$? v
    exec 1>&3 2>&4
    cluster_stop "$WORK/pg"
    [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true
    # The current build goes back in place, as the other suites expect.
    install_extension >/dev/null 2>&1 || { echo "could not reinstall the current build" >&2; rc=1; }
    as_root rm -rf "$WORK"
    end_tally "$rc" || exit 1
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

package_into() { # package_into TREE TARGET_DIR OUT LOG
    (cd "$1" && CARGO_TARGET_DIR="$2" cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$3" > "$4" 2>&1) \
        || { tail -30 "$4" >&2; return 1; }
}
install_build() { # install_build FOLDER: only that build's scripts, each file renamed into place
    rm -f "$EXTDIR"/scrap_sga.control "$EXTDIR"/scrap_sga--*.sql
    install_staged "$1"
}

# 1. Each earlier release, built once for this major from its own tree (git history: its last
# commit) and kept by commit under target/upgrade/pgNN/: a stage folder per release, built in one
# target folder of the major's, seeded with a copy of the current build's so that the
# dependencies are not compiled again (the release's own crates are: their tree is another).
BUILDS="$ROOT/target/upgrade/pg$PG_MAJOR"
build_release() { # build_release OLD_VERSION: its stage folder, $BUILDS/<commit>/stage
    local version=$1 commit=${RELEASE_COMMIT[$1]} dir
    dir="$BUILDS/$commit"
    # The worktree's name (its folder's) says which release and major: git names worktrees by it.
    local tree="$dir/tree-$version-pg$PG_MAJOR"
    [ -f "$dir/.built" ] && return 0
    if ! git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null; then
        echo "commit $commit ($version) is not in this clone's history (a shallow clone? git fetch --unshallow)" >&2
        return 1
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    # With this major's feature, so that the upgrade scripts run on it from a real old catalog
    # built here.
    release_worktree "$commit" "$tree" || { echo "no pg$PG_MAJOR feature in $version's Cargo.toml" >&2; return 1; }
    if [ ! -d "$BUILDS/target/release" ]; then
        mkdir -p "$BUILDS/target"
        cp -a "$EXT_TARGET/release" "$BUILDS/target/"
    fi
    say "building $version from commit $commit for PostgreSQL $PG_MAJOR"
    package_into "$tree" "$BUILDS/target" "$dir/stage" "$dir/build.log" || return 1
    git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || true
    touch "$dir/.built"
}
if [ "${1:-}" = build ]; then
    trap - EXIT
    as_root rm -rf "$WORK"
    rc=0
    for v in $UPGRADE_FROM; do build_release "$v" || rc=1; done
    exit "$rc"
fi

say "packaging the current tree for PostgreSQL $PG_MAJOR"
package_into "$ROOT" "$EXT_TARGET" "$WORK/new" "$WORK/build.log"
NEW_VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$WORK/new$EXTDIR/scrap_sga.control")
(cd "$ROOT" && cargo build --release -q -p odoo_sim)
SIM_BIN="$ROOT/target/release/odoo_sim"

upgrade_from() { # upgrade_from OLD_VERSION
local OLD_VERSION=$1 OLD_COMMIT=${RELEASE_COMMIT[$1]}
say "upgrade from $OLD_VERSION (commit $OLD_COMMIT) to $NEW_VERSION"
if build_release "$OLD_VERSION"; then
    ok "$OLD_VERSION builds for PostgreSQL $PG_MAJOR"
else
    fail "$OLD_VERSION builds for PostgreSQL $PG_MAJOR"
    return 1
fi
local OLD="$BUILDS/$OLD_COMMIT/stage"   # read only: installed from where it is kept
same "the old build is $OLD_VERSION" "$OLD_VERSION" "$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$OLD$EXTDIR/scrap_sga.control")"
# ALTER EXTENSION UPDATE chains the scripts from the old version to the new one.
chain=$(ls "$WORK/new$EXTDIR" | sed -n 's/^scrap_sga--\([^-]*\)--\([^-]*\)\.sql$/\1 \2/p')
v=$OLD_VERSION
while [ "$v" != "$NEW_VERSION" ]; do
    next=$(awk -v v="$v" '$1 == v {print $2}' <<< "$chain")
    [ -n "$next" ] || break
    v=$next
done
same "the current build ships upgrade scripts from $OLD_VERSION to $NEW_VERSION" "$NEW_VERSION" "$v"

# 2. The old release at work.
install_build "$OLD"
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
state() { # what must survive the upgrade (the runs made before it)
    q "SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc t)
           || ' ' || (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc_line t)
           || ' cursors ' || (SELECT string_agg(model || '=' || cursor, ',' ORDER BY model) FROM scrap_sga.model)
           || ' runs ' || (SELECT md5(string_agg(run_id || status || fetched || coalesce(cursor_after::text, ''), ',' ORDER BY run_id)) FROM scrap_sga.sync_run WHERE run_id <= $last_run)
           || ' audit ' || (SELECT count(*) || md5(string_agg(audit_id || operation || odoo_id, ',' ORDER BY audit_id)) FROM scrap_sga.audit_log)
           || ' connection ' || (SELECT url || ' ' || login FROM scrap_sga.connection)"
}
last_run=$(q "SELECT max(run_id) FROM scrap_sga.sync_run")
before=$(state)
same "$OLD_VERSION synced: 200 orders, 1000 lines, 4 runs" "200 1000 4" "$(q "SELECT (SELECT count(*) FROM scrap_dimagaz_bc) || ' ' || (SELECT count(*) FROM scrap_dimagaz_bc_line) || ' ' || (SELECT count(*) FROM scrap_sga.sync_run)")"

# 3. The new library, a restart, the update.
install_build "$WORK/new"
as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -m fast -w restart >/dev/null
q "ALTER EXTENSION scrap_sga UPDATE"
same "ALTER EXTENSION UPDATE brings $NEW_VERSION" "$NEW_VERSION" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'scrap_sga'")"

# 4. Nothing lost; the next sync goes on from the cursor.
same "mirror rows, cursors, run log, audit log and connection are intact" "$before" "$(state)"
# The scheduler starts with the new library and runs before the update (UPDATING.md): those
# runs fail against the old catalog, and write nothing (the mirror rows above are intact).
same "runs between the restart and the update failed, none succeeded" "0" \
    "$(q "SELECT count(*) FROM scrap_sga.sync_run WHERE run_id > $last_run AND status <> 'failed'")"
# The text of every amount before the update (double precision), untouched rows only.
amounts() {
    q "SELECT md5(string_agg(id || ':' || concat_ws(',', $(q "SELECT string_agg(format('%I', f.field), ', ' ORDER BY f.field) FROM scrap_sga.model_field f WHERE f.model = 'dimagaz.bc' AND f.odoo_type = 'monetary'")), ',' ORDER BY id))
       FROM scrap_dimagaz_bc WHERE id NOT IN (7, 8)"
}
amounts_before=$(amounts)
curl -s -X POST "$SIM_URL/sim/touch" -d '{"model": "dimagaz.bc", "ids": [7, 8]}' >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
same "the next sync is incremental and reads only what changed" "dimagaz.bc incremental jsonrpc 2|dimagaz.bc.line incremental jsonrpc 0" \
    "$(q "SELECT string_agg(model || ' ' || mode || ' ' || protocol || ' ' || updated, '|' ORDER BY model) FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)")"
same "every amount column (monetary) is numeric after that sync" "numeric" \
    "$(q "SELECT string_agg(DISTINCT format_type(a.atttypid, a.atttypmod), ',') FROM scrap_sga.model_field f JOIN scrap_sga.model m USING (model)
          JOIN pg_attribute a ON a.attrelid = format('%I.%I', m.table_schema, m.table_name)::regclass AND a.attname = f.field
          WHERE f.odoo_type = 'monetary'")"
# Amounts were double precision before 0.3.0: three columns of dimagaz.bc are converted then.
case $OLD_VERSION in 0.1.0|0.2.0) converted=3 ;; *) converted=0 ;; esac
same "the conversion is in the run log" "$converted" \
    "$(q "SELECT count(*) FROM scrap_sga.sync_run r, unnest(r.schema_changes) c WHERE c LIKE '%converted from double precision to numeric in place%'")"
same "every converted amount keeps its value, digit for digit" "$amounts_before" "$(amounts)"
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
"${PSQL[@]}" -d fresh -c "CREATE EXTENSION scrap_sga" >/dev/null
"${PSQL[@]}" -d upg -f "$ROOT/tests/upgrade/describe_catalog.sql" > "$WORK/upgraded.txt"
"${PSQL[@]}" -d fresh -f "$ROOT/tests/upgrade/describe_catalog.sql" > "$WORK/fresh.txt"
if diff -u "$WORK/fresh.txt" "$WORK/upgraded.txt" > "$WORK/catalog.diff"; then
    ok "the upgraded catalog equals a fresh install's ($(grep -c '' "$WORK/fresh.txt") lines compared)"
else
    fail "the upgraded catalog equals a fresh install's" "$(head -60 "$WORK/catalog.diff")"
fi
cluster_stop "$WORK/pg"
as_root rm -rf "$WORK/pg"
kill "$SIM_PID" 2>/dev/null || true; SIM_PID=
}

for old in $UPGRADE_FROM; do
    upgrade_from "$old" || true
done

# 6. Function attributes and grants stated once, the same in the install and in the upgrade to
# this version (an older script keeps the privileges of its own release).
for script in "$ROOT"/sql/scrap_sga--*--"$NEW_VERSION".sql; do
    n=$(grep -c '' "$ROOT/sql/privileges.sql")
    if [ "$(tail -n "$n" "$script")" = "$(cat "$ROOT/sql/privileges.sql")" ]; then
        ok "$(basename "$script") ends with sql/privileges.sql"
    else
        fail "$(basename "$script") ends with sql/privileges.sql"
    fi
done
