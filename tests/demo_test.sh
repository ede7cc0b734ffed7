#!/usr/bin/env bash
# scripts/demo.sh, run as the README tells a newcomer to (the simulator playing Odoo 20), goes to
# the end and shows what it says it shows. Usage: [PG_MAJOR=NN] tests/demo_test.sh
# Ends with "N passed; M failed".
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
LOG=$(mktemp /tmp/scrap_sga_demo_test.XXXXXX)
trap 'rc=$?; rm -f "$LOG"; end_tally "$rc" || exit 1' EXIT
if bash "$ROOT/scripts/demo.sh" > "$LOG" 2>&1; then
    ok "scripts/demo.sh exits 0"
else
    fail "scripts/demo.sh exits 0" "$(tail -15 "$LOG")"
fi
# psql's aligned tables: "model | status | fetched | inserted | updated | ..."
row() { grep -E "^ *$1 +\| succeeded +\| +$2 +\| +$3 +\| +$4 +\|" "$LOG" | head -1; }
check "the first sync copies 1000 orders" test -n "$(row 'dimagaz\.bc' 1000 1000 0)"
check "and 5000 lines" test -n "$(row 'dimagaz\.bc\.line' 5000 5000 0)"
check "the second sync writes nothing" test -n "$(row 'dimagaz\.bc' '[0-9]+' 0 0)" -a -n "$(row 'dimagaz\.bc\.line' '[0-9]+' 0 0)"
check "it spoke JSON-2 to Odoo 20" grep -qE '\| json2 +\|' "$LOG"
check "the background worker takes over" grep -qE '\| (idle|running|waiting)' "$LOG"
check "it removes its cluster" test -z "$(grep -F 'the cluster keeps running' "$LOG")"
[ "$FAILED" -eq 0 ] || sed 's/^/     /' "$LOG" | tail -40
