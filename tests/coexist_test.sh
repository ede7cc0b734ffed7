#!/usr/bin/env bash
# A server already running on this machine with scrap_sga loaded survives the test suites and the
# demo reinstalling the extension (issue 18, item 7).
#
#   tests/coexist_test.sh start DIR   build the extension for Debian's PostgreSQL 15, install it
#                                     into the system's folders (each file written beside its
#                                     place and renamed over it; whatever was there is saved in
#                                     DIR), start a cluster of Debian's PostgreSQL 15 in DIR with
#                                     scrap_sga preloaded, its scheduler syncing from a simulator
#                                     every second, and note the postmaster's and scheduler's pids
#   tests/coexist_test.sh check DIR   the same cluster is up, with the same scheduler (same pid
#                                     in pg_stat_activity), nothing in its log says a process
#                                     crashed, its scheduler's runs went on succeeding to the end;
#                                     then stop it, and put the system's files back as they were
#
# scripts/test.sh runs `start` before its first suite and `check` after its last, so that every
# suite, the Debian package's apt-get install and remove, and scripts/demo.sh run beside it.
# Each part ends with "N passed; M failed". As root, or a user with sudo.
PG_MAJOR=15
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cmd=${1:-}; DIR=${2:-}
[ -n "$DIR" ] && { [ "$cmd" = start ] || [ "$cmd" = check ]; } || { echo "usage: $0 start|check DIR" >&2; exit 2; }

# The system's folders, where Debian's PostgreSQL 15 (and a DBA's own scrap_sga) looks.
LIBDIR=$("$SYS_PG_CONFIG" --pkglibdir)
EXTDIR=$("$SYS_PG_CONFIG" --sharedir)/extension
sys_files() { compgen -G "$LIBDIR/scrap_sga.so" || true; compgen -G "$EXTDIR/scrap_sga.control" || true; compgen -G "$EXTDIR/scrap_sga--*.sql" || true; }
PSQL=("$SYS_PG_BIN/psql" -X -q -At -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -p "$(cat "$DIR/port")" -c "$1"; }
# Stop the cluster and the simulator, take our files out of the system's folders and put back
# what was there before, each by rename. Returns non-zero if the folders are not as they were.
teardown() {
    PG_BIN=$SYS_PG_BIN cluster_stop "$DIR"
    [ -s "$DIR/sim.pid" ] && kill "$(cat "$DIR/sim.pid")" 2>/dev/null || true
    local f
    while read -r f; do
        [ -n "$f" ] && as_root rm -f "$f"
    done < <(sys_files)
    if [ -s "$DIR/saved.list" ]; then
        while read -r f; do
            as_root cp -a "$DIR/saved$f" "$f.new.$$"
            as_root mv -f "$f.new.$$" "$f"
        done < "$DIR/saved.list"
    fi
    [ "$(sys_files | sort)" = "$(sort "$DIR/saved.list" 2>/dev/null)" ] \
        && { [ ! -s "$DIR/saved.list" ] || (cd "$DIR/saved" && md5sum --quiet -c "$DIR/saved.md5" >/dev/null 2>&1); }
}

if [ "$cmd" = start ]; then
    exec 3>&1 4>&2
    started=0
    on_exit() {
        local rc=$?
        exec 1>&3 2>&4
        if [ "$started" -eq 0 ]; then teardown || echo "could not put back the system's scrap_sga files (saved in $DIR/saved)" >&2; fi
        end_tally "$rc" || exit 1
    }
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    setup
    install_extension
    as_root mkdir -p "$DIR"
    as_root chmod 755 "$DIR"

    # What the system had (a DBA's own install, another checkout's run of this test) is saved.
    sys_files > "$DIR/saved.list"
    mkdir -p "$DIR/saved"
    while read -r f; do
        [ -n "$f" ] || continue
        mkdir -p "$DIR/saved$(dirname "$f")"
        cp -a "$f" "$DIR/saved$f"
    done < "$DIR/saved.list"
    (cd "$DIR/saved" && find . -type f -exec md5sum {} +) > "$DIR/saved.md5"

    # This checkout's build, from the test clusters' copy (Debian's layout under a prefix) into the
    # system's folders, each file renamed into place.
    stage="$DIR/stage"
    mkdir -p "$stage$LIBDIR" "$stage$EXTDIR"
    cp "$("$PG_CONFIG" --pkglibdir)/scrap_sga.so" "$stage$LIBDIR/"
    cp "$("$PG_CONFIG" --sharedir)/extension/"scrap_sga* "$stage$EXTDIR/"
    as_root bash -c "$(declare -f install_staged); install_staged '$stage'"
    rm -rf "$stage"
    check "this build installed into $LIBDIR and $EXTDIR" cmp -s "$("$PG_CONFIG" --pkglibdir)/scrap_sga.so" "$LIBDIR/scrap_sga.so"

    # The simulator and the server outlive this script: they must not hold its output (fds 3
    # and 4 are copies of it), or whoever reads that output (scripts/test.sh's tee) never sees
    # it end.
    SIM_LOG="$DIR/sim.log" sim_start 50 200 3>&- 4>&-
    echo "$SIM_PID" > "$DIR/sim.pid"
    PORT=$(free_port)
    echo "$PORT" > "$DIR/port"
    say "a cluster of Debian's PostgreSQL 15 on port $PORT preloading scrap_sga from $LIBDIR"
    if PG_BIN=$SYS_PG_BIN cluster_start "$DIR" "$PORT" "shared_preload_libraries = 'scrap_sga'" \
            "scrap_sga.database = 'postgres'" "scrap_sga.interval = 1" 3>&- 4>&-; then
        ok "Debian's PostgreSQL 15 starts with the system's scrap_sga preloaded"
    else
        fail "Debian's PostgreSQL 15 starts with the system's scrap_sga preloaded" "the end of its log is above"
        exit 1
    fi
    q "CREATE EXTENSION scrap_sga"
    q "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
    runs=0
    for _ in $(seq 60); do
        runs=$(q "SELECT count(*) FROM scrap_sga.sync_run WHERE trigger = 'worker' AND status = 'succeeded'")
        [ "$runs" -ge 4 ] && break
        sleep 0.5
    done
    check "its scheduler syncs from the simulator ($runs worker runs)" test "$runs" -ge 4
    as_root head -1 "$DIR/data/postmaster.pid" > "$DIR/postmaster.pid"
    q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'" > "$DIR/scheduler.pid"
    check "its scheduler runs (pid $(cat "$DIR/scheduler.pid"))" test -n "$(cat "$DIR/scheduler.pid")"
    q "SELECT coalesce(max(run_id), 0) FROM scrap_sga.sync_run" > "$DIR/first_run"
    started=1
    say "left running: $DIR (postmaster $(cat "$DIR/postmaster.pid"), scheduler $(cat "$DIR/scheduler.pid"), port $PORT)"
    exit 0
fi

# check
exec 3>&1 4>&2
on_exit() {
    local rc=$?
    exec 1>&3 2>&4
    if teardown; then
        ok "the system's scrap_sga files are back as they were before the run ($(wc -l < "$DIR/saved.list") files)"
    else
        fail "the system's scrap_sga files are back as they were before the run" "$(sys_files; echo "saved in $DIR/saved")"
        rc=1
    fi
    [ "$FAILED" -gt 0 ] || as_root rm -rf "$DIR"
    end_tally "$rc" || exit 1
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ -f "$DIR/postmaster.pid" ] || { fail "a cluster was started in $DIR"; exit 1; }
postmaster=$(cat "$DIR/postmaster.pid") scheduler=$(cat "$DIR/scheduler.pid")
cluster_up() { as_root runuser -u postgres -- "$SYS_PG_BIN/pg_ctl" -D "$DIR/data" status >/dev/null; }
check "the cluster is still up (postmaster $postmaster)" cluster_up
check "with the same postmaster" test "$(as_root head -1 "$DIR/data/postmaster.pid" 2>/dev/null)" = "$postmaster"
now=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'" 2>&1 || true)
check "with the same scheduler (pid $scheduler, now: ${now:-none})" test "$now" = "$scheduler"
crashes=$(as_root grep -E 'terminated by signal|was terminated by|exited with exit code [^0]|PANIC|all server processes terminated|database system was interrupted|incompatible library' "$DIR/server.log" || true)
check "its log shows no process that died" test -z "$crashes"
[ -z "$crashes" ] || printf '%s\n' "$crashes" | head -10 | sed 's/^/     /'
first=$(cat "$DIR/first_run") last=$(q "SELECT coalesce(max(run_id), 0) FROM scrap_sga.sync_run" 2>/dev/null || echo 0)
read -r ok_runs failed_runs <<< "$(q "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed')
                                      FROM scrap_sga.sync_run WHERE trigger = 'worker' AND run_id > $first AND run_id <= $last" | tr '|' ' ')"
check "its scheduler kept syncing meanwhile ($ok_runs runs succeeded, $failed_runs failed)" test "${ok_runs:-0}" -gt 0 -a "${failed_runs:-1}" = 0
newer=0
for _ in $(seq 40); do
    newer=$(q "SELECT count(*) FROM scrap_sga.sync_run WHERE trigger = 'worker' AND status = 'succeeded' AND run_id > $last" 2>/dev/null || echo 0)
    [ "${newer:-0}" -gt 0 ] && break
    sleep 0.5
done
check "and still syncs now (a run started after this check did, and succeeded)" test "${newer:-0}" -gt 0
mapped=$(as_root grep -F 'scrap_sga.so' "/proc/$scheduler/maps" 2>/dev/null | awk '{$1=$2=$3=$4=$5=""; print}' | sort -u | sed 's/^ *//' || true)
printf '     the scheduler has mapped: %s\n' "${mapped:-?}"
