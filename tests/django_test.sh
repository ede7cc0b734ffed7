#!/usr/bin/env bash
# The Django app's suite (examples/django): the app pip-installed into a fresh virtual
# environment, as a project installs it (the tests import the installed copy, never the source
# tree), its generated models, derived API and admin on three schemas, the change feed, the
# browser test (Debian's chromium, headless, installed here when missing) and the quick start
# run as the README writes it. A cluster and a simulator of its own, so that it can run beside
# other suites. Needs the extension installed in this major's private PostgreSQL
# (scripts/lib.sh: install_extension) and the simulator built.
# Usage: [PG_MAJOR=NN] tests/django_test.sh. Ends with "N passed; M failed" (N: Django's tests).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
SIM_BIN="$ROOT/target/release/odoo_sim"
WORK=$(mktemp -d /tmp/scrap_sga_django.XXXXXX)
chmod 755 "$WORK"
SIM_PID=
finish() {
    local rc=$?
    [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true
    cluster_stop "$WORK/pg"
    as_root rm -rf "$WORK"
    exit "$rc"
}
trap finish EXIT
DJ="$ROOT/examples/django"
# The browser test drives Debian's chromium, headless, through its chromedriver.
ensure_debian_packages chromium chromium-driver
python3 -m venv "$WORK/venv"
(cd "$DJ" && "$WORK/venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt)
PORT=$(free_port)
cluster_start "$WORK/pg" "$PORT"
SIM_LOG=/dev/null sim_start 120 500
# SGA_SIM_BIN: tests/test_schemas.py starts simulators of its own, serving other schemas.
(cd "$DJ" && SGA_SIM_URL=$SIM_URL SGA_SIM_BIN="$SIM_BIN" BRASG_DB_HOST=127.0.0.1 BRASG_DB_PORT=$PORT BRASG_DB_NAME=brasg \
    "$WORK/venv/bin/python" manage.py test --noinput 2>&1) | tee "$WORK/django.log" || true
# Django's runner prints "Ran N tests" and then "OK" or "FAILED (...)". The last of each: the
# schemas' tests run manage.py test themselves, and their output (their own "Ran" and "OK")
# comes before the outer run's.
ran=$(grep -Eo '^Ran [0-9]+ test' "$WORK/django.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
if grep -E '^(OK|FAILED)' "$WORK/django.log" | tail -1 | grep -q '^OK'; then
    echo "$ran passed; 0 failed"
else
    echo "0 passed; $((ran > 0 ? ran : 1)) failed"
    exit 1
fi
