#!/usr/bin/env bash
# What the row audit costs a bulk update, and that it logs the same thing however it is computed.
# The simulator's LINES order lines are mirrored, then every field of every line is written anew
# in Odoo and mirrored again: the mirror and its audit log then hold each line's old and new
# values. Those rows are written again into a copy of the mirror table, first inserted and then
# updated to their new values, in statements of 2,000 rows (the engine's page), under:
#   none    no audit trigger;
#   0.2.0   the update trigger of 0.2.0: PL/pgSQL, the diff by to_jsonb and jsonb_each;
#   this    this tree's scrap_sga.audit_update().
# Per trigger: the insert's and the update's milliseconds, update over insert, and an md5 of the
# audit rows the update logged (ordered by id): the same md5 means the same audit content (the
# lines have no binary column: 0.2.0 logged a binary's content, this tree its size and digest).
# Usage: bench/audit.sh [LINES]  (default 500000). Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
LINES=${1:-500000}; ORDERS=$(( LINES / 5 )); KEY=0123456789abcdef0123456789abcdef01234567

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'"
sim_start "$ORDERS" "$LINES" 20 "$KEY"
q() { "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d postgres "$@"; }
q -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', NULL, '$KEY')" >/dev/null
q -c "SELECT * FROM scrap_sga.sync('dimagaz.bc.line')" >/dev/null
python3 -c "import json; print(json.dumps({'model': 'dimagaz.bc.line', 'ids': list(range(1, $LINES + 1)), 'same_values': False}))" > "$WORK/ids.json"
curl -s -X POST "$SIM_URL/sim/touch" --data-binary "@$WORK/ids.json" >/dev/null
curl -s -X POST "$SIM_URL/sim/clock" --data-binary '{"advance_s": 5}' >/dev/null
q -c "SELECT * FROM scrap_sga.sync('dimagaz.bc.line')" >/dev/null

# The rows, old and new, as pages of JSON; the table's data columns, for the UPDATE.
q <<'SQL'
CREATE TABLE pages AS
SELECT (n.id - 1) / 2000 AS page,
       jsonb_agg(to_jsonb(jsonb_populate_record(n, a.old_values)) - 'sga_synced_at' - 'sga_run_id' - 'sga_deleted_at' ORDER BY n.id) AS old,
       jsonb_agg(to_jsonb(n) - 'sga_synced_at' - 'sga_run_id' - 'sga_deleted_at' ORDER BY n.id) AS new
FROM scrap_dimagaz_bc_line n JOIN scrap_sga.audit_log a ON a.table_name = 'scrap_dimagaz_bc_line' AND a.odoo_id = n.id AND a.operation = 'update'
GROUP BY 1;
CREATE FUNCTION audit_0_2_0() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scrap_sga.audit_log (run_id, table_name, odoo_id, operation, old_values, new_values)
    SELECT n.sga_run_id, TG_TABLE_NAME, n.id,
           CASE WHEN o.sga_deleted_at IS NULL AND n.sga_deleted_at IS NOT NULL THEN 'soft_delete'
                WHEN o.sga_deleted_at IS NOT NULL AND n.sga_deleted_at IS NULL THEN 'restore'
                ELSE 'update' END,
           d.ov, d.nv
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    CROSS JOIN LATERAL (SELECT jsonb_object_agg(a.key, a.value) AS ov, jsonb_object_agg(a.key, b.value) AS nv
        FROM jsonb_each(to_jsonb(o)) a JOIN jsonb_each(to_jsonb(n)) b ON b.key = a.key
        WHERE a.value IS DISTINCT FROM b.value AND a.key NOT IN ('sga_synced_at', 'sga_run_id')) d;
    RETURN NULL;
END
$$;
SQL
COLS=$(q -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                 WHERE attrelid = 'scrap_dimagaz_bc_line'::regclass AND attnum > 0 AND NOT attisdropped
                   AND attname NOT IN ('id', 'sga_synced_at', 'sga_run_id', 'sga_deleted_at')")
NEWCOLS=$(q -At -c "SELECT string_agg('r.' || c, ', ') FROM unnest(string_to_array('$COLS', ', ')) c")

# measure LABEL UPDATE_FUNCTION: insert then update every row into a fresh copy of the table.
measure() {
    local label=$1 trigger=$2
    q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS m;
CREATE TABLE m (LIKE scrap_dimagaz_bc_line INCLUDING ALL);
$( [ -n "$trigger" ] && echo "CREATE TRIGGER audit_insert AFTER INSERT ON m REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION scrap_sga.audit_insert();
CREATE TRIGGER audit_update AFTER UPDATE ON m REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION $trigger();" )
TRUNCATE scrap_sga.audit_log;
CHECKPOINT;
CREATE TEMP TABLE t (step text, ms float8);
DO \$\$
DECLARE p record; t0 timestamptz := clock_timestamp();
BEGIN
    FOR p IN SELECT * FROM pages ORDER BY page LOOP
        INSERT INTO m (id, $COLS, sga_synced_at, sga_run_id) SELECT r.id, $NEWCOLS, now(), 1 FROM jsonb_populate_recordset(NULL::m, p.old) r;
    END LOOP;
    INSERT INTO t VALUES ('insert', 1000 * extract(epoch FROM clock_timestamp() - t0));
END \$\$;
CHECKPOINT;
DO \$\$
DECLARE p record; t0 timestamptz := clock_timestamp();
BEGIN
    FOR p IN SELECT * FROM pages ORDER BY page LOOP
        UPDATE m SET ($COLS, sga_run_id) = ($NEWCOLS, 2) FROM jsonb_populate_recordset(NULL::m, p.new) r WHERE m.id = r.id;
    END LOOP;
    INSERT INTO t VALUES ('update', 1000 * extract(epoch FROM clock_timestamp() - t0));
END \$\$;
\pset footer off
SELECT '$label' AS trigger, round((SELECT ms FROM t WHERE step = 'insert')) AS insert_ms, round((SELECT ms FROM t WHERE step = 'update')) AS update_ms,
       round(((SELECT ms FROM t WHERE step = 'update') / (SELECT ms FROM t WHERE step = 'insert'))::numeric, 2) AS ratio,
       (SELECT count(*) FROM scrap_sga.audit_log WHERE operation = 'update') AS audit_rows,
       (SELECT md5(string_agg(odoo_id || ' ' || coalesce(old_values::text, '') || ' ' || coalesce(new_values::text, ''), ',' ORDER BY odoo_id))
        FROM scrap_sga.audit_log WHERE operation = 'update') AS audit_md5;
SQL
}
echo "$LINES order lines, every field written anew; statements of 2,000 rows; one cluster, one round each:"
measure none ""
measure 0.2.0 audit_0_2_0
measure this scrap_sga.audit_update
