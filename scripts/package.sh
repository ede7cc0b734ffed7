#!/usr/bin/env bash
# Build the Debian package postgresql-NN-scrap-sga_<version>_<arch>.deb from `cargo pgrx package`,
# for PostgreSQL NN = 15 (the default), 16, 17 or 18.
#
# Usage: scripts/package.sh [PG_MAJOR] [OUTDIR]     (default OUTDIR: target/debian)
# Prints the .deb's path on stdout; progress goes to stderr. Install it with
#   apt-get install ./postgresql-NN-scrap-sga_<version>_amd64.deb
#
# The files go where Debian's and the PostgreSQL project's (apt.postgresql.org) postgresql-NN
# packages look: /usr/lib/postgresql/NN/lib and /usr/share/postgresql/NN/extension; the package
# depends on postgresql-NN. The version is the extension's: what `cargo pgrx package` wrote into
# the packaged control file, i.e. Cargo.toml's version. The build itself needs no root (dpkg-deb
# records the files as root's); only installing missing build tools does.
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then export PG_MAJOR=$1; shift; fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PKG=postgresql-$PG_MAJOR-scrap-sga
OUT=${1:-$ROOT/target/debian}

setup
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found: this builds a Debian package, on Debian" >&2; exit 1; }
if ! command -v dpkg-shlibdeps >/dev/null; then
    say "installing dpkg-dev (dpkg-shlibdeps)"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq dpkg-dev >/dev/null
fi

# A fresh tree each time, so that nothing from an earlier build (say, the install script of a
# previous version) can end up in the package. Laid out as a Debian source tree would be
# (debian/control, debian/<package>/) because that is where dpkg-shlibdeps expects to run.
BUILD="$ROOT/target/debian/build-$PG_MAJOR"
STAGE="$BUILD/debian/$PKG"
rm -rf "$BUILD"
mkdir -p "$STAGE" "$OUT"
printf 'Source: scrap-sga\n\nPackage: %s\nArchitecture: any\n' "$PKG" > "$BUILD/debian/control"
OUT=$(cd "$OUT" && pwd)

say "cargo pgrx package (release build, for $PG_CONFIG)"
RAW="$BUILD/pgrx"
(cd "$ROOT" && CARGO_TARGET_DIR="$EXT_TARGET" cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$RAW" >/dev/null)

# pgrx lays the files out under its pg_config's folders, the test clusters' private copy
# (scripts/lib.sh); the package puts them where Debian's and the PostgreSQL project's
# postgresql-NN look. For 15, Debian's own pg_config says so (checked rather than assumed).
LIBDIR=/usr/lib/postgresql/$PG_MAJOR/lib
EXTDIR=/usr/share/postgresql/$PG_MAJOR/extension
if [ "$PG_MAJOR" = 15 ]; then
    [ "$("$SYS_PG_CONFIG" --pkglibdir)" = "$LIBDIR" ] && [ "$("$SYS_PG_CONFIG" --sharedir)/extension" = "$EXTDIR" ] \
        || { echo "Debian's pg_config does not name $LIBDIR and $EXTDIR" >&2; exit 1; }
fi
BUILT_LIB=$("$PG_CONFIG" --pkglibdir)
BUILT_EXT=$("$PG_CONFIG" --sharedir)/extension
mkdir -p "$STAGE$LIBDIR" "$STAGE$EXTDIR"
mv "$RAW$BUILT_LIB"/* "$STAGE$LIBDIR/"
mv "$RAW$BUILT_EXT"/* "$STAGE$EXTDIR/"
unexpected=$(find "$RAW" -type f)
[ -z "$unexpected" ] || { echo "cargo pgrx package produced files outside $BUILT_LIB and $BUILT_EXT:" >&2; echo "$unexpected" >&2; exit 1; }
rm -rf "$RAW"
CONTROL="$STAGE$EXTDIR/scrap_sga.control"
for f in "$STAGE$LIBDIR/scrap_sga.so" "$CONTROL"; do
    [ -f "$f" ] || { echo "cargo pgrx package did not produce ${f#"$STAGE"}" >&2; exit 1; }
done

EXT_VERSION=$(sed -nE "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']+)'.*/\1/p" "$CONTROL")
[ -n "$EXT_VERSION" ] || { echo "no default_version in the packaged $(basename "$CONTROL")" >&2; exit 1; }
[ -f "$STAGE$EXTDIR/scrap_sga--$EXT_VERSION.sql" ] || { echo "no install script scrap_sga--$EXT_VERSION.sql for default_version $EXT_VERSION" >&2; exit 1; }
# Debian sorts '~' before everything, so a pre-release (0.2.0-rc.1 in Cargo's terms) comes
# before its release; a '-' would instead be read as the Debian revision.
VERSION=${EXT_VERSION//-/\~}
ARCH=$(dpkg --print-architecture)

# Debian's shared libraries are stripped (file(1) shows it); pgrx leaves the symbols in.
strip --strip-unneeded "$STAGE$LIBDIR/scrap_sga.so"
# No maintainer scripts: CREATE EXTENSION and shared_preload_libraries are each cluster's
# DBA's choice, and dpkg swaps the library in by rename, so a server running the old one keeps
# its mapping until it restarts.
mkdir -m 0755 "$STAGE/DEBIAN"   # before dpkg-shlibdeps, which finds the package root by it

# The library's own dependencies (libc6, libgcc-s1 today), with the minimum versions its symbols
# need, as dpkg-shlibdeps finds them.
SHLIBS_DEPENDS=$(cd "$BUILD" && dpkg-shlibdeps -O "debian/$PKG$LIBDIR/scrap_sga.so" | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS_DEPENDS" ] || { echo "dpkg-shlibdeps found no dependencies for scrap_sga.so" >&2; exit 1; }

# Every Debian package carries its licence and a changelog. The changelog's one entry is dated
# by the last commit, so that building the same commit twice gives the same package.
MAINTAINER=$(sed -n 's/^Maintainer: //p' "$ROOT/packaging/control.in")
DATE=$(git -C "$ROOT" log -1 --format=%cD 2>/dev/null || date -R)
DOC="$STAGE/usr/share/doc/$PKG"
mkdir -p "$DOC"
cp "$ROOT/packaging/copyright" "$DOC/copyright"
printf '%s (%s) unstable; urgency=medium\n\n  * scrap_sga %s, packaged by scripts/package.sh.\n\n -- %s  %s\n' \
    "$PKG" "$VERSION" "$EXT_VERSION" "$MAINTAINER" "$DATE" | gzip -9n > "$DOC/changelog.gz"

# Modes as Debian expects, whatever the umask was during the build.
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -type f -exec chmod 0644 {} +

(cd "$STAGE" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$STAGE/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@PG_MAJOR@/$PG_MAJOR/g" -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" \
    -e "s/@SHLIBS_DEPENDS@/$SHLIBS_DEPENDS/" \
    "$ROOT/packaging/control.in" > "$STAGE/DEBIAN/control"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"

DEB="$OUT/${PKG}_${VERSION}_${ARCH}.deb"
say "dpkg-deb --build -> $DEB"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
