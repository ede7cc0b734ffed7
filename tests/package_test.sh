#!/usr/bin/env bash
# The Debian package, end to end: build it with scripts/package.sh, install it with apt-get,
# create the extension from the installed files in a fresh cluster, sync from the simulator,
# and remove the package.
#
# Usage: tests/package_test.sh   (as root, or a user with sudo)
# Installing the package replaces the extension files that `cargo pgrx install` put in place,
# and removing it deletes them: this saves those files first and puts them back at the end,
# so scripts/test.sh runs it last. Ends with "N passed; M failed".
# PostgreSQL 15 alone: the package installs against Debian 12's postgresql-15 (for 16-18, whose
# postgresql-NN Debian 12 lacks, tests/package_layout_test.sh checks the package's layout).
PG_MAJOR=15
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
PKG=postgresql-$PG_MAJOR-scrap-sga
SIM_ORDERS=150 SIM_LINES=600

# check NAME COMMAND...: a check that passes when COMMAND succeeds.
# dpkg's two-letter state ("ii" installed, "rc" removed but configured...), empty once the
# package is gone: dpkg may still remember a removed package as "un"/"pn", which is not there.
pkg_status() {
    local s; s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null | tr -d ' ' || true)
    [ "${s:1:1}" = "n" ] || printf '%s' "$s"
}

setup
# The package is for Debian's PostgreSQL, and its cluster runs Debian's programs: the only test
# that touches the system's folders (the others use the private copy, scripts/lib.sh).
PG_CONFIG=$SYS_PG_CONFIG PG_BIN=$SYS_PG_BIN
LIBDIR=$("$PG_CONFIG" --pkglibdir)
EXTDIR=$("$PG_CONFIG" --sharedir)/extension
ext_files() { compgen -G "$LIBDIR/scrap_sga.so" || true; compgen -G "$EXTDIR/scrap_sga.control" || true; compgen -G "$EXTDIR/scrap_sga--*.sql" || true; }

WORK=$(mktemp -d /tmp/scrap_sga_pkg.XXXXXX)
chmod 755 "$WORK"
SIM_PID=
RESTORED=0

# Whatever scrap_sga files the system had before (a DBA's own install, say) go back at the end,
# each written beside its place and renamed over it: servers still running keep their inode.
restore_extension() {
    [ "$RESTORED" -eq 0 ] || return 0
    RESTORED=1
    if [ -n "$(pkg_status)" ]; then
        DEBIAN_FRONTEND=noninteractive as_root apt-get purge -y -qq "$PKG" >/dev/null 2>&1 \
            || echo "could not remove $PKG: remove it by hand (apt-get purge $PKG)" >&2
    fi
    [ -s "$WORK/saved.list" ] || return 0
    local f
    while read -r f; do
        as_root cp -a "$WORK/saved$f" "$f.new.$$"
        as_root mv -f "$f.new.$$" "$f"
    done < "$WORK/saved.list"
    if (cd / && md5sum --quiet -c "$WORK/saved.md5" >/dev/null 2>&1); then
        say "put back the extension files that were installed before"
    else
        echo "could not put back the extension files that were installed before (saved in $WORK/saved, left there)" >&2
        return 1
    fi
}

# The script's own stdout and stderr: a signal can land inside a function whose output is
# redirected (as_root ... >/dev/null), and the traps then run with that redirection.
exec 3>&1 4>&2
finish() {
    local rc=$?
    exec 1>&3 2>&4
    cluster_stop "$WORK/pg"
    [ -z "$SIM_PID" ] || kill "$SIM_PID" 2>/dev/null || true
    if restore_extension; then as_root rm -rf "$WORK"; else rc=1; fi
    end_tally "$rc" || exit 1
}
trap finish EXIT
# Bash skips the EXIT trap when a signal kills it; exiting from the signal's trap runs it, so an
# interrupted run still removes the package and puts the files back.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A previous run that died before its clean-up leaves the package installed; then the files on
# disk are the package's, which are saved like any others, and the package is removed so that
# this run installs onto the same ground as a first one.
if [ -n "$(pkg_status)" ]; then
    say "$PKG is installed ($(pkg_status)), probably left by an interrupted run: removing it first"
fi
mkdir -p "$WORK/saved"
ext_files > "$WORK/saved.list"
while read -r f; do
    [ -n "$f" ] || continue
    mkdir -p "$WORK/saved$(dirname "$f")"
    cp -a "$f" "$WORK/saved$f"
done < "$WORK/saved.list"
(cd "$WORK/saved" && find . -type f -exec md5sum {} +) > "$WORK/saved.md5"
if [ -n "$(pkg_status)" ]; then
    DEBIAN_FRONTEND=noninteractive as_root apt-get purge -y -qq "$PKG" >/dev/null
fi

# --- build --------------------------------------------------------------------------------
VERSION=$(cd "$ROOT" && cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "scrap_sga"))')
DEB_VERSION=${VERSION//-/\~}   # as package.sh writes a pre-release
ARCH=$(dpkg --print-architecture)
say "scripts/package.sh (scrap_sga $VERSION)"
# Built into $WORK (0755) rather than target/: apt reads a local .deb as the _apt user, which
# may not be able to reach into the checkout.
if DEB=$(bash "$ROOT/scripts/package.sh" "$PG_MAJOR" "$WORK/out"); then
    ok "scripts/package.sh builds a package"
else
    fail "scripts/package.sh builds a package"
    exit 1
fi
check "package.sh names the package after Cargo.toml's version: $(basename "$DEB")" \
    test "$DEB" = "$WORK/out/${PKG}_${DEB_VERSION}_${ARCH}.deb" -a -f "$DEB"
printf '     %s, %s bytes\n' "$(basename "$DEB")" "$(stat -c %s "$DEB")"

field() { dpkg-deb -f "$DEB" "$1"; }
check "control: Package $PKG" test "$(field Package)" = "$PKG"
check "control: Version $DEB_VERSION" test "$(field Version)" = "$DEB_VERSION"
check "control: Architecture $ARCH" test "$(field Architecture)" = "$ARCH"
check "control: Depends on postgresql-$PG_MAJOR" grep -qE "(^|, )postgresql-$PG_MAJOR(\$|[ ,])" <<< "$(field Depends)"
check "control: Maintainer, Section, Priority, Description" test -n "$(field Maintainer)" -a -n "$(field Section)" -a -n "$(field Priority)" -a -n "$(field Description)"
not_root=$(dpkg-deb -c "$DEB" | awk '$2 != "root/root"')
check "every file in the package is root's" test -z "$not_root"

# --- install --------------------------------------------------------------------------------
say "apt-get install ./$(basename "$DEB")"
# The README's command, relative path and all.
if (cd "$(dirname "$DEB")" && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "./$(basename "$DEB")") > "$WORK/apt-install.log" 2>&1; then
    ok "apt-get install ./$(basename "$DEB")"
else
    fail "apt-get install ./$(basename "$DEB")" "$(tail -5 "$WORK/apt-install.log")"
    exit 1
fi
check "dpkg lists $PKG $DEB_VERSION as installed" test "$(pkg_status)" = "ii" -a "$(dpkg-query -W -f='${Version}' "$PKG")" = "$DEB_VERSION"

dpkg -L "$PKG" | sort > "$WORK/listed"
sed 's/^/     /' "$WORK/listed"
listed() { grep -qxF "$1" "$WORK/listed"; }
check "installs $LIBDIR/scrap_sga.so" listed "$LIBDIR/scrap_sga.so"
check "installs $EXTDIR/scrap_sga.control" listed "$EXTDIR/scrap_sga.control"
check "installs $EXTDIR/scrap_sga--$VERSION.sql" listed "$EXTDIR/scrap_sga--$VERSION.sql"
# Upgrade scripts in sql/ are what lets ALTER EXTENSION UPDATE reach this version: all must ship.
missing=
for f in "$ROOT"/sql/scrap_sga--*--*.sql; do
    [ -e "$f" ] || continue
    listed "$EXTDIR/$(basename "$f")" || missing+=" $(basename "$f")"
done
check "installs every upgrade script in sql/${missing:+ (missing:$missing)}" test -z "$missing"
outside=$(grep -vE "^($LIBDIR|$EXTDIR|/usr/share/doc/$PKG)(/|\$)" "$WORK/listed" | grep -vxE '/\.|/usr|/usr/lib|/usr/lib/postgresql|/usr/lib/postgresql/[0-9]+|/usr/share|/usr/share/postgresql|/usr/share/postgresql/[0-9]+|/usr/share/doc' || true)
check "installs nothing outside Debian's PostgreSQL $PG_MAJOR directories${outside:+ (also: $(echo $outside))}" test -z "$outside"
check "the installed files match the package's checksums (dpkg -V)" test -z "$(dpkg -V "$PKG" 2>&1)"
check "the library is stripped" bash -c "file -L '$LIBDIR/scrap_sga.so' | grep -q ', stripped'"

# --- use ------------------------------------------------------------------------------------
say "building the Odoo simulator"
(cd "$ROOT" && cargo build --release -q -p odoo_sim)
SIM_BIN="$ROOT/target/release/odoo_sim"
SIM_LOG="$WORK/sim.log" sim_start "$SIM_ORDERS" "$SIM_LINES"
PORT=$(free_port)
say "a fresh cluster on port $PORT with shared_preload_libraries = 'scrap_sga', from the package's files"
if cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.database = 'postgres'"; then
    ok "the server starts with the packaged library preloaded"
else
    fail "the server starts with the packaged library preloaded" "the end of its log is above"
    exit 1
fi
PSQL=("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
check_packaged_sync "$VERSION"
cluster_stop "$WORK/pg"
kill "$SIM_PID" 2>/dev/null || true; SIM_PID=

# --- remove ---------------------------------------------------------------------------------
say "apt-get remove $PKG"
if DEBIAN_FRONTEND=noninteractive as_root apt-get remove -y -qq "$PKG" > "$WORK/apt-remove.log" 2>&1; then
    ok "apt-get remove $PKG"
else
    fail "apt-get remove $PKG" "$(tail -5 "$WORK/apt-remove.log")"
fi
left=
while read -r f; do [ -d "$f" ] || [ ! -e "$f" ] || left+=" $f"; done < "$WORK/listed"
check "removal deletes every file the package installed${left:+ (left:$left)}" test -z "$left"
check "dpkg no longer knows $PKG (status: '$(pkg_status)')" test -z "$(pkg_status)"
