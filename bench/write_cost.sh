#!/usr/bin/env bash
# The write side of a first copy against PostgreSQL's own limit (issue 33, item 3): at two sizes,
# a full sync with the audit off, then a plain COPY of the same rows into a new table with the
# same columns and indexes, side by side, as ratios; records per second, cost per record (the
# larger size's against the smaller's: it should stay within 10 %), and the sync worker's peak
# memory at both sizes.
#
# Usage: bench/write_cost.sh [ORDERS LINES [ORDERS2 LINES2]]   (default 100000 500000 400000 2000000)
#   ROUNDS=n (default 1): both sizes n times, alternated; the summary then takes each figure's
#   median over the rounds.
#   PERF=1: after the measured sync of each size, one more sync (not measured) whose worker is
#   profiled with `perf record --call-graph dwarf` for PERF_SECONDS (default 20) from the moment
#   half the lines are written; prints where its CPU went (by step of the write path with
#   bench/perf_breakdown.py, by library, by function with what it calls and alone), and keeps the profile as bench-<records>.perf.data in PERF_DIR
#   (default /tmp) for `perf report -i`.
#
# One cluster (shared_buffers 512MB, autovacuum off, pg_stat_statements with track_planning), a
# simulator per size without serving cost (Odoo is not what is measured here; the simulator's
# pages cost the same at any size). Per size:
#   - the sync (scrap_sga.sync(), audit off: UPDATE scrap_sga.model SET audit = false), after a
#     CHECKPOINT; per model from the run log: its duration, the time the backend waited on Odoo,
#     and db_time (the page transactions: the page's statement, the catalog's counters, commit);
#     from pg_stat_statements: the page statements' execution and planning time;
#   - COPY: `COPY (SELECT * FROM <mirror table>) TO <file>`, a table created `LIKE` it
#     `INCLUDING ALL` (its columns, defaults and indexes: primary key, write_date, the
#     many2one's, the partial sga_deleted index, as the catalog has them), a CHECKPOINT, then
#     `COPY <table> FROM <file>` timed by psql (one statement and its commit).
# Write side / COPY is given three ways: db_time (the run log), the page statements' SQL time
# (pg_stat_statements, execution + planning), and the run's time not waiting on Odoo (which adds
# the backend's conversion of each page to the database work); and in CPU time, the sync
# worker's (bench/peak_memory.py reads it) against the COPY backends' (from /proc/self/stat),
# which a busy shared machine disturbs less than wall time. The summary gives each figure's
# cost per record at both sizes, and the write side / COPY ratios of the larger size against the
# smaller's (steadier than the costs themselves when the machine's load changes between sizes).
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
require_contrib pg_stat_statements

O1=${1:-100000}; L1=${2:-500000}; O2=${3:-400000}; L2=${4:-2000000}
ROUNDS=${ROUNDS:-1}; PERF=${PERF:-0}; PERF_SECONDS=${PERF_SECONDS:-20}; PERF_DIR=${PERF_DIR:-/tmp}
if [ "$PERF" = 1 ]; then ensure_debian_packages linux-perf; fi
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
as_root install -d -o postgres "$WORK/copy"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'" "autovacuum = off" "max_wal_size = '16GB'" "checkpoint_timeout = '1h'" \
    "shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.track = all" "pg_stat_statements.track_planning = on"
# The sync's progress notices would come between the figures.
PSQL=(env PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -F ' ' -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
MODELS=(dimagaz.bc dimagaz.bc.line)
echo "PostgreSQL $("$PG_CONFIG" --version | cut -d' ' -f2), shared_buffers 512MB, autovacuum off; audit off; simulator without serving cost"

# new_db DB: a database with the extension, connected to the simulator, audit off.
new_db() {
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $1"
    "${PSQL[@]}" -d "$1" -c "CREATE EXTENSION scrap_sga" -c "CREATE EXTENSION pg_stat_statements" \
        -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" -c "UPDATE scrap_sga.model SET audit = false" >/dev/null
}

# timed DB SQL: "ms cpu_s" of one statement: psql's time (with its commit), and the CPU time its
# backend spent (user + system, from /proc/self/stat before and after).
timed() {
    "${PSQL[@]}" -d "$1" <<SQL | awk -v tick="$(getconf CLK_TCK)" '/^cpu0 / {c0 = $13 + $14} /^cpu1 / {c1 = $13 + $14} /^Time: / {ms = $2} END {print ms, (c1 - c0) / tick}'
SELECT 'cpu0 ' || split_part(pg_read_file('/proc/self/stat'), ') ', 2);
\\timing on
$2;
\\timing off
SELECT 'cpu1 ' || split_part(pg_read_file('/proc/self/stat'), ') ', 2);
SQL
}

# profile DB LINES: a sync whose worker perf records for PERF_SECONDS once half the lines are in.
profile() {
    local db=$1 lines=$2 out="$PERF_DIR/bench-$3.perf.data" pid="" sp pp
    "${PSQL[@]}" -d "$db" -c "SELECT count(*) FROM scrap_sga.sync()" >/dev/null &
    sp=$!
    until [ "$("${PSQL[@]}" -d "$db" -c "SELECT coalesce(max(fetched), 0) >= $lines / 2 FROM scrap_sga.sync_run WHERE model = 'dimagaz.bc.line'")" = t ]; do
        kill -0 "$sp" 2>/dev/null || { echo "  (no profile: the sync ended before half the lines were in)"; return 0; }
        sleep 0.2
    done
    pid=$("${PSQL[@]}" -d "$db" -c "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'scrap_sga%' LIMIT 1")
    perf record -q -F 499 --call-graph dwarf,16384 -p "$pid" -o "$out" -- sleep "$PERF_SECONDS" 2>/dev/null &
    pp=$!
    wait "$sp"; wait "$pp" || true
    local report=(perf report -i "$out" -g none --percent-limit 0.5 --stdio)
    echo "  profile of the sync worker ($PERF_SECONDS s from half the lines, pid $pid; $out):"
    echo "   by step of the write path (bench/perf_breakdown.py):"
    python3 "$HERE/perf_breakdown.py" "$out" "$pid"
    echo "   by library:"
    "${report[@]}" --no-children --sort dso 2>/dev/null | grep '%' | sed 's/^/     /' || true
    echo "   by function, with what it calls (resolved names only; the top 30):"
    "${report[@]}" --children --sort symbol 2>/dev/null | grep '%' | grep -v '\] 0x0000' | head -30 | cut -c1-190 | sed 's/^/     /' || true
    echo "   by function alone (the top 30):"
    "${report[@]}" --no-children --sort dso,symbol 2>/dev/null | grep '%' | head -30 | cut -c1-190 | sed 's/^/     /' || true
}

declare -A R
run_size() {
    local orders=$1 lines=$2 round=$3 n=$(( $1 + $2 )) db="write_$(( $1 + $2 ))"
    SIM_OPTS="" sim_start "$orders" "$lines"
    new_db "$db"
    "${PSQL[@]}" -d "$db" -c "CHECKPOINT" -c "SELECT pg_stat_statements_reset()" >/dev/null
    python3 "$HERE/peak_memory.py" "${PSQL[@]}" -d "$db" > "$WORK/mem" &
    local poller=$! t0 t1
    sleep 0.2
    t0=$(date +%s.%N)
    "${PSQL[@]}" -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(date +%s.%N)
    kill -TERM "$poller"; wait "$poller" || true
    local wall anon hwm cpu
    wall=$(awk "BEGIN {print $t1 - $t0}")
    read -r _ anon hwm cpu < <(sort -k2 -n "$WORK/mem" | tail -1)
    echo
    echo "round $round: $orders orders + $lines lines = $n records: sync() in $(printf '%.2f' "$wall") s = $(awk "BEGIN {printf \"%.0f\", $n / $wall}") records/s;" \
         "sync worker peak RssAnon $(( ${anon:-0} / 1024 )) MB, VmHWM $(( ${hwm:-0} / 1024 )) MB"
    printf '  %-16s %8s %8s %8s %8s %9s %8s %9s %9s %9s\n' model records "run s" "Odoo s" "db_time" "page SQL" "COPY s" "db/COPY" "SQL/COPY" "run-Odoo/COPY"
    local m t_all=0 db_all=0 sql_all=0 copy_all=0 busy_all=0 copy_cpu_all=0
    for m in "${MODELS[@]}"; do
        local schema table secs odoo dbt fetched sql plan calls copy_ms copy_cpu
        read -r schema table < <("${PSQL[@]}" -d "$db" -c "SELECT table_schema, table_name FROM scrap_sga.model WHERE model = '$m'")
        read -r secs odoo dbt fetched < <("${PSQL[@]}" -d "$db" -c "
            SELECT extract(epoch FROM finished_at - started_at), extract(epoch FROM odoo_time), extract(epoch FROM db_time), fetched
            FROM scrap_sga.sync_run WHERE model = '$m' ORDER BY run_id DESC LIMIT 1")
        # The page statements of the model (`upsert`): those that read a page with json_to_recordset
        # into this table (the comparing one, and the plain insert into a table the run created).
        read -r sql plan calls < <("${PSQL[@]}" -d "$db" -c "
            SELECT coalesce(sum(total_exec_time), 0) / 1000, coalesce(sum(total_plan_time), 0) / 1000, coalesce(sum(calls), 0)
            FROM pg_stat_statements WHERE query LIKE 'WITH %json_to_recordset%'
             AND (query LIKE '%JOIN \"$schema\".\"$table\" t %' OR query LIKE '%INSERT INTO \"$schema\".\"$table\" (%')")
        "${PSQL[@]}" -d "$db" -c "COPY (SELECT * FROM $schema.$table) TO '$WORK/copy/$table'" \
            -c "CREATE TABLE copy_$table (LIKE $schema.$table INCLUDING ALL)" -c "CHECKPOINT"
        read -r copy_ms copy_cpu < <(timed "$db" "COPY copy_$table FROM '$WORK/copy/$table'")
        local copy=$(awk "BEGIN {print $copy_ms / 1000}") both=$(awk "BEGIN {print $sql + $plan}") busy=$(awk "BEGIN {print $secs - $odoo}")
        local idx_sync idx_copy
        idx_sync=$("${PSQL[@]}" -d "$db" -c "SELECT count(*) FROM pg_index WHERE indrelid = '$schema.$table'::regclass")
        idx_copy=$("${PSQL[@]}" -d "$db" -c "SELECT count(*) FROM pg_index WHERE indrelid = 'copy_$table'::regclass")
        printf '  %-16s %8d %8.2f %8.2f %8.2f %9.2f %8.2f %8.2fx %8.2fx %8.2fx\n' "$m" "$fetched" "$secs" "$odoo" "$dbt" "$both" "$copy" \
            "$(awk "BEGIN {print $dbt / $copy}")" "$(awk "BEGIN {print $both / $copy}")" "$(awk "BEGIN {print $busy / $copy}")"
        printf '  %-16s page SQL: %d statements, %.2f s executing + %.2f s planning; indexes: %d on the mirror, %d on the COPY table\n' "" "$calls" "$sql" "$plan" "$idx_sync" "$idx_copy"
        "${PSQL[@]}" -d "$db" -c "DROP TABLE copy_$table"
        as_root rm -f "$WORK/copy/$table"
        t_all=$(awk "BEGIN {print $t_all + $secs}"); db_all=$(awk "BEGIN {print $db_all + $dbt}"); sql_all=$(awk "BEGIN {print $sql_all + $both}")
        copy_all=$(awk "BEGIN {print $copy_all + $copy}"); busy_all=$(awk "BEGIN {print $busy_all + $busy}"); copy_cpu_all=$(awk "BEGIN {print $copy_cpu_all + $copy_cpu}")
    done
    printf '  %-16s %8d %8.2f %8s %8.2f %9.2f %8.2f %8.2fx %8.2fx %8.2fx\n' both "$n" "$t_all" "" "$db_all" "$sql_all" "$copy_all" \
        "$(awk "BEGIN {print $db_all / $copy_all}")" "$(awk "BEGIN {print $sql_all / $copy_all}")" "$(awk "BEGIN {print $busy_all / $copy_all}")"
    printf '  CPU time: the sync worker %.2f s (its threads included: the streams parse Odoo'"'"'s answers), the COPY backends %.2f s: %.2fx\n' \
        "${cpu:-0}" "$copy_cpu_all" "$(awk "BEGIN {print ${cpu:-0} / $copy_cpu_all}")"
    R[$n $round]="$wall $db_all $sql_all $busy_all $copy_all ${anon:-0} ${hwm:-0} ${cpu:-0} $copy_cpu_all"
    if [ "$PERF" = 1 ] && [ "$round" = 1 ]; then
        new_db "${db}_perf"
        profile "${db}_perf" "$lines" "$n"
        "${PSQL[@]}" -d postgres -c "DROP DATABASE ${db}_perf"
    fi
    "${PSQL[@]}" -d postgres -c "DROP DATABASE $db"
    kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true; SIM_PID=
}

for round in $(seq "$ROUNDS"); do
    run_size "$O1" "$L1" "$round"
    run_size "$O2" "$L2" "$round"
done

a=$(( O1 + L1 )); b=$(( O2 + L2 ))
# fig SIZE INDEX: the figure's median over the rounds (field INDEX of R).
fig() {
    local r
    median $(for r in $(seq "$ROUNDS"); do echo "${R[$1 $r]}" | cut -d' ' -f"$2"; done)
}
echo
echo "summary$([ "$ROUNDS" -gt 1 ] && echo " (medians of $ROUNDS rounds)"): cost per record in us (records/s) at $a and $b records, and the larger's against the smaller's (target: within 10 %)"
printf '  %-34s %22s %22s %8s\n' "" "$a records" "$b records" ratio
row() { # row LABEL INDEX
    local x y
    x=$(fig "$a" "$2"); y=$(fig "$b" "$2")
    printf '  %-34s %9.2f (%9.0f/s) %9.2f (%9.0f/s) %7.3fx\n' "$1" "$(awk "BEGIN {print 1e6 * $x / $a}")" "$(awk "BEGIN {print $a / $x}")" \
        "$(awk "BEGIN {print 1e6 * $y / $b}")" "$(awk "BEGIN {print $b / $y}")" "$(awk "BEGIN {print ($y / $b) / ($x / $a)}")"
}
row "whole sync() call" 1
row "write side: db_time (run log)" 2
row "write side: page SQL (exec + plan)" 3
row "write side: run minus waiting" 4
row "plain COPY" 5
row "CPU: the sync worker" 8
row "CPU: the COPY backends" 9
ratio_row() { # ratio_row LABEL INDEX: write side / COPY at both sizes
    printf '  %-34s %21.2fx %21.2fx\n' "$1" "$(awk "BEGIN {print $(fig "$a" "$2") / $(fig "$a" 5)}")" "$(awk "BEGIN {print $(fig "$b" "$2") / $(fig "$b" 5)}")"
}
ratio_row "db_time / COPY" 2
ratio_row "page SQL / COPY" 3
ratio_row "run minus waiting / COPY" 4
printf '  %-34s %21.2fx %21.2fx\n' "CPU: sync worker / COPY" "$(awk "BEGIN {print $(fig "$a" 8) / $(fig "$a" 9)}")" "$(awk "BEGIN {print $(fig "$b" 8) / $(fig "$b" 9)}")"
# The machine's load moves both sides alike: the write side's cost per record in COPY's, at the
# larger size against the smaller, is the steadier answer to "does it grow with the model".
growth_row() { # growth_row LABEL INDEX
    printf '  %-34s %45s %7.3fx\n' "$1" "" "$(awk "BEGIN {print ($(fig "$b" "$2") / $(fig "$b" 5)) / ($(fig "$a" "$2") / $(fig "$a" 5))}")"
}
echo "  the same ratios, $b against $a records:"
growth_row "db_time / COPY" 2
growth_row "page SQL / COPY" 3
growth_row "run minus waiting / COPY" 4
printf '  %-34s %45s %7.3fx\n' "CPU: sync worker / COPY" "" "$(awk "BEGIN {print ($(fig "$b" 8) / $(fig "$b" 9)) / ($(fig "$a" 8) / $(fig "$a" 9))}")"
printf '  %-34s %19d MB %19d MB\n' "sync worker peak RssAnon" "$(awk "BEGIN {print int($(fig "$a" 6) / 1024)}")" "$(awk "BEGIN {print int($(fig "$b" 6) / 1024)}")"
printf '  %-34s %19d MB %19d MB\n' "sync worker peak VmHWM" "$(awk "BEGIN {print int($(fig "$a" 7) / 1024)}")" "$(awk "BEGIN {print int($(fig "$b" 7) / 1024)}")"
