#!/usr/bin/env bash
# The Debian package for PostgreSQL 16, 17 or 18 (PG_MAJOR): build it with scripts/package.sh,
# check its control fields and its file list (laid out as the PostgreSQL project's postgresql-NN
# packages expect), then unpack it and have a cluster of that major load the library and the SQL
# scripts from the package's own files, and sync from the simulator.
#
# Debian 12 has no postgresql-16/17/18 to install the package against (the PostgreSQL project's
# apt repository has them, and this machine cannot reach it): the cluster is a scratch copy of the
# test clusters' PostgreSQL of that major (scripts/lib.sh) whose extension files are links to the
# unpacked package's files, and the test checks that the server mapped the package's library.
# Nothing is installed on the system. PostgreSQL 15's package has the real apt-get install and
# remove test (tests/package_test.sh).
#
# Usage: PG_MAJOR=16 tests/package_layout_test.sh   (as root, or a user with sudo)
# Ends with "N passed; M failed".
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
PKG=postgresql-$PG_MAJOR-scrap-sga
LIBDIR=/usr/lib/postgresql/$PG_MAJOR/lib
EXTDIR=/usr/share/postgresql/$PG_MAJOR/extension

setup
WORK=$(mktemp -d /tmp/scrap_sga_pkglayout.XXXXXX)
chmod 755 "$WORK"
SIM_PID=
exec 3>&1 4>&2
finish() {
    local rc=$?
    exec 1>&3 2>&4
    PG_BIN=$COPY_BIN cluster_stop "$WORK/pg"
    [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true
    as_root rm -rf "$WORK"
    end_tally "$rc" || exit 1
}
COPY_BIN=$PG_BIN
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build --------------------------------------------------------------------------------
VERSION=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scrap_sga"))')
DEB_VERSION=${VERSION//-/\~}
ARCH=$(dpkg --print-architecture)
say "scripts/package.sh $PG_MAJOR (scrap_sga $VERSION)"
if DEB=$(bash "$ROOT/scripts/package.sh" "$PG_MAJOR" "$WORK/out"); then
    ok "scripts/package.sh $PG_MAJOR builds a package"
else
    fail "scripts/package.sh $PG_MAJOR builds a package"
    exit 1
fi
check "package.sh names it ${PKG}_${DEB_VERSION}_${ARCH}.deb" test "$DEB" = "$WORK/out/${PKG}_${DEB_VERSION}_${ARCH}.deb" -a -f "$DEB"
printf '     %s, %s bytes\n' "$(basename "$DEB")" "$(stat -c %s "$DEB")"

field() { dpkg-deb -f "$DEB" "$1"; }
check "control: Package $PKG" test "$(field Package)" = "$PKG"
check "control: Version $DEB_VERSION" test "$(field Version)" = "$DEB_VERSION"
check "control: Architecture $ARCH" test "$(field Architecture)" = "$ARCH"
check "control: Depends on postgresql-$PG_MAJOR ($(field Depends))" grep -qE "(^|, )postgresql-$PG_MAJOR(\$|[ ,])" <<< "$(field Depends)"
check "control: no other postgresql-NN in Depends" test -z "$(field Depends | grep -oE 'postgresql-[0-9]+' | grep -vx "postgresql-$PG_MAJOR" || true)"
check "control: the description names PostgreSQL $PG_MAJOR" grep -q "PostgreSQL $PG_MAJOR extension" <<< "$(field Description)"
not_root=$(dpkg-deb -c "$DEB" | awk '$2 != "root/root"')
check "every file in the package is root's" test -z "$not_root"

# --- the file list --------------------------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{print $6}' | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/\?$' | sort > "$WORK/listed"
sed 's/^/     /' "$WORK/listed"
listed() { grep -qxF "$1" "$WORK/listed"; }
check "ships $LIBDIR/scrap_sga.so" listed "$LIBDIR/scrap_sga.so"
check "ships $EXTDIR/scrap_sga.control" listed "$EXTDIR/scrap_sga.control"
check "ships $EXTDIR/scrap_sga--$VERSION.sql" listed "$EXTDIR/scrap_sga--$VERSION.sql"
missing=
for f in "$ROOT"/sql/scrap_sga--*--*.sql; do
    [ -e "$f" ] || continue
    listed "$EXTDIR/$(basename "$f")" || missing+=" $(basename "$f")"
done
check "ships every upgrade script in sql/${missing:+ (missing:$missing)}" test -z "$missing"
check "ships its copyright and changelog" test -n "$(grep -x "/usr/share/doc/$PKG/copyright" "$WORK/listed")" -a -n "$(grep -x "/usr/share/doc/$PKG/changelog.gz" "$WORK/listed")"
outside=$(grep -vE "^($LIBDIR|$EXTDIR|/usr/share/doc/$PKG)(/|\$)" "$WORK/listed" \
    | grep -vxE "/usr|/usr/lib|/usr/lib/postgresql|/usr/lib/postgresql/$PG_MAJOR|/usr/share|/usr/share/postgresql|/usr/share/postgresql/$PG_MAJOR|/usr/share/doc" || true)
check "nothing outside PostgreSQL $PG_MAJOR's directories${outside:+ (also: $(echo $outside))}" test -z "$outside"

ROOTFS="$WORK/root"
dpkg-deb -x "$DEB" "$ROOTFS"
check "the library is stripped" bash -c "file -L '$ROOTFS$LIBDIR/scrap_sga.so' | grep -q ', stripped'"

# --- a cluster of this major loading the package's files ----------------------------------------
# A scratch copy of the test clusters' PostgreSQL $PG_MAJOR, whose extension files are links to the
# unpacked package's: pkglibdir/scrap_sga.so -> $ROOTFS$LIBDIR/scrap_sga.so, and so on.
COPY="$WORK/pg-copy"
cp -a "$PG_PREFIX" "$COPY"
COPY_BIN=${PG_BIN/#$PG_PREFIX/$COPY}
COPY_LIB=$("$COPY_BIN/pg_config" --pkglibdir)
COPY_EXT=$("$COPY_BIN/pg_config" --sharedir)/extension
case "$COPY_LIB" in "$COPY"/*) ;; *) fail "the copy's pg_config names its own folders (pkglibdir: $COPY_LIB)"; exit 1 ;; esac
rm -f "$COPY_LIB"/scrap_sga.so "$COPY_EXT"/scrap_sga.control "$COPY_EXT"/scrap_sga--*.sql
ln -s "$ROOTFS$LIBDIR/scrap_sga.so" "$COPY_LIB/scrap_sga.so"
for f in "$ROOTFS$EXTDIR"/*; do ln -s "$f" "$COPY_EXT/$(basename "$f")"; done

(cd "$ROOT" && cargo build --release -q -p odoo_sim)
SIM_BIN="$ROOT/target/release/odoo_sim"
SIM_LOG="$WORK/sim.log" sim_start 150 600
PORT=$(free_port)
say "a PostgreSQL $PG_MAJOR cluster on port $PORT preloading scrap_sga from the package's files"
if PG_BIN=$COPY_BIN cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.database = 'postgres'"; then
    # A library built for another major would be refused here ("incompatible library ... Server is
    # version N, library is version M"), and the server would not start.
    ok "the PostgreSQL $PG_MAJOR server starts with the packaged library preloaded"
else
    fail "the PostgreSQL $PG_MAJOR server starts with the packaged library preloaded" "the end of its log is above"
    exit 1
fi
PSQL=("$COPY_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
check "the server is PostgreSQL $PG_MAJOR" test "$("${PSQL[@]}" -c "SHOW server_version_num" | cut -c1-2)" = "$PG_MAJOR"
postmaster=$(as_root head -1 "$WORK/pg/data/postmaster.pid")
check "the postmaster mapped the package's scrap_sga.so ($ROOTFS$LIBDIR/scrap_sga.so)" \
    as_root grep -qF "$ROOTFS$LIBDIR/scrap_sga.so" "/proc/$postmaster/maps"
check_packaged_sync "$VERSION"
worker=$("${PSQL[@]}" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'")
check "the scheduler (a background worker of the packaged library) runs" test "$worker" = 1
