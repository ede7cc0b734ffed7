#!/usr/bin/env bash
# A long first copy cut at about 60 % and resumed (issue 32), beside an uncut one:
#   1. the first copy of LINES lines, uncut: its time;
#   2. the same copy, its worker terminated (pg_terminate_backend) once 60 % is committed,
#      then sync() again: the records the resumed run fetched (it should be about 40 % of the
#      model, and no more than 45 %), both runs' time against the uncut copy's;
#   3. the same, the server stopped at once (pg_ctl -m immediate) at 60 %, then restarted;
#   4. after each, verify(): no difference with Odoo.
# Usage: bench/resume.sh [LINES]   (default 2000000)
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
LINES=${1:-2000000}
MODEL=dimagaz.bc.line

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
# The scheduler paused: every run is one of this script's.
cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.enabled = off" "shared_buffers = '512MB'" "max_wal_size = '4GB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
sim_start 10 "$LINES"
q() { "${PSQL[@]}" -d "$1" -At -F ' ' -c "$2"; }
new_db() {
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $1"
    q "$1" "CREATE EXTENSION scrap_sga" >/dev/null
    q "$1" "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
}
sync_lines() { q "$1" "SELECT count(*) FROM scrap_sga.sync('$MODEL')" >/dev/null 2>&1; }
done_now() { q "$1" "SELECT coalesce((SELECT done FROM scrap_sga.full_pass WHERE model = '$MODEL'), 0)" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
secs() { awk "BEGIN {printf \"%.1f\", $2 - $1}"; }
# A run's fetched records and duration, by its place among the model's runs (1: the first).
run_of() { q "$1" "SELECT fetched, round(extract(epoch FROM finished_at - started_at)::numeric, 1), coalesce(resumed_from::text, '-')
                   FROM scrap_sga.sync_run WHERE model = '$MODEL' ORDER BY run_id LIMIT 1 OFFSET $2"; }
differences() { q "$1" "SELECT count(*) FROM scrap_sga.verify('$MODEL')"; }

echo "first copy of $LINES lines, PostgreSQL $PG_MAJOR"
new_db uncut
t0=$(now); sync_lines uncut; t1=$(now)
uncut=$(secs "$t0" "$t1")
echo "  uncut: ${uncut} s; verify(): $(differences uncut) differences"

# cut DB HOW: the copy of DB, cut by HOW (terminate or immediate) once 60 % is committed.
cut() {
    local db=$1 how=$2 t0 t1 t2 t3 sync_pid
    new_db "$db"
    t0=$(now)
    sync_lines "$db" & sync_pid=$!
    until [ "$(done_now "$db")" -ge $((LINES * 6 / 10)) ]; do sleep 0.2; done
    t1=$(now)
    local at; at=$(done_now "$db")
    if [ "$how" = terminate ]; then
        q "$db" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'scrap_sga sync'" >/dev/null
        wait "$sync_pid" || true
    else
        as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null
        wait "$sync_pid" || true
        as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w -t 120 start >/dev/null
    fi
    local kept; kept=$(done_now "$db")
    t2=$(now); sync_lines "$db"; t3=$(now)
    read -r fetched dur from <<< "$(run_of "$db" 1)"
    printf '  %-9s cut at %d committed (%d kept after the cut), resumed after id %s: the resumed run fetched %d (%.1f %% of the model) in %s s;\n' \
        "$how:" "$at" "$kept" "$from" "$fetched" "$(awk "BEGIN {print 100 * $fetched / $LINES}")" "$(secs "$t2" "$t3")"
    printf '            cut run %s s + resumed %s s = %s s against %s s uncut (x%s); verify(): %s differences\n' \
        "$(secs "$t0" "$t1")" "$(secs "$t2" "$t3")" "$(awk "BEGIN {printf \"%.1f\", ($t1 - $t0) + ($t3 - $t2)}")" "$uncut" \
        "$(awk "BEGIN {printf \"%.2f\", (($t1 - $t0) + ($t3 - $t2)) / $uncut}")" "$(differences "$db")"
}
cut cut_terminate terminate
cut cut_immediate immediate
