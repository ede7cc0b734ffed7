# Shared by demo.sh and test.sh: set-up that installs only what is missing, and throwaway clusters.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PGRX_VERSION=0.18.1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: PostgreSQL 15 with its headers, libclang for pgrx's bindings, sudo and
# python3-venv for the test suites.
ensure_packages() {
    local missing=()
    for p in postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libclang-dev clang sudo python3-venv curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian starts a cluster of its own on 5432; ours never use it.
}

# Debian's PostgreSQL: the source of the private copy below, and what the Debian package targets.
SYS_PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
SYS_PG_CONFIG="$SYS_PG_BIN/pg_config"

# The test clusters' own PostgreSQL: a copy of Debian's under target/, relocatable as PostgreSQL
# is (each program finds its share and lib folders relative to its own path). The extension is
# installed there, never into the system's folders, so a server on this machine that preloads
# scrap_sga never sees its library change under it, and two checkouts never install over each other.
PG_PREFIX="$ROOT/target/postgresql/$PG_MAJOR"
PG_BIN="$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin"
PG_CONFIG="$PG_BIN/pg_config"
# cargo-pgrx's configuration (which pg_config each version uses) for this checkout alone.
export PGRX_HOME="$ROOT/target/pgrx-home"

# Copy Debian's PostgreSQL (programs, libraries, share folder, server headers) into PG_PREFIX,
# again whenever Debian's packages change version. Any scrap_sga already installed on the system
# is left out: the copy only ever holds this checkout's builds.
ensure_private_pg() {
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
    # The clusters run as the postgres OS user: every folder up to the programs must be open to it.
    chmod 755 "$ROOT/target" "$ROOT/target/postgresql" "$PG_PREFIX"
    printf '%s' "$want" > "$stamp"
}

ensure_cargo_pgrx() {
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        say "installing cargo-pgrx $PGRX_VERSION (about 7 minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -qs "^pg$PG_MAJOR = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
        say "cargo pgrx init --pg$PG_MAJOR (the private copy)"
        mkdir -p "$PGRX_HOME"
        cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG" >/dev/null
    fi
}

setup() {
    ensure_packages
    mkdir -p "$ROOT/target"
    ensure_private_pg
    ensure_cargo_pgrx
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
    say "building the extension and installing it into $PG_PREFIX"
    local stage
    stage=$(mktemp -d "$ROOT/target/stage.XXXXXX")
    (cd "$ROOT" && cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$stage" >/dev/null)
    install_staged "$stage"
    rm -rf "$stage"
    say "building the Odoo simulator"
    (cd "$ROOT" && cargo build --release -q -p odoo_sim)
    SIM_BIN="$ROOT/target/release/odoo_sim"
}

# install_release COMMIT: a second private copy of PostgreSQL with the extension as built from
# COMMIT (an earlier release), for benchmarks that compare it with this tree side by side. Built
# once per commit, from a throwaway worktree; sets RELEASE_PG_BIN.
install_release() {
    local commit=$1 prefix="$ROOT/target/postgresql-at-$1/$PG_MAJOR" tree="$ROOT/target/tree-at-$1" stage
    RELEASE_PG_BIN="$prefix/usr/lib/postgresql/$PG_MAJOR/bin"
    [ -f "$prefix/.built" ] && return 0
    say "building scrap_sga as of $commit into $prefix (once)"
    rm -rf "$prefix" && mkdir -p "$prefix"
    cp -a "$PG_PREFIX/." "$prefix/"
    rm -f "$prefix/usr/lib/postgresql/$PG_MAJOR/lib/scrap_sga.so" "$prefix/usr/share/postgresql/$PG_MAJOR/extension/scrap_sga"*
    git -C "$ROOT" worktree remove --force "$tree" >/dev/null 2>&1 || true
    git -C "$ROOT" worktree add --force --detach "$tree" "$commit" >/dev/null
    stage=$(mktemp -d "$ROOT/target/stage.XXXXXX")
    (cd "$tree" && CARGO_TARGET_DIR="$ROOT/target/build-at-$commit" \
        cargo pgrx package --pg-config "$RELEASE_PG_BIN/pg_config" --out-dir "$stage" >/dev/null)
    install_staged "$stage"
    rm -rf "$stage"
    git -C "$ROOT" worktree remove --force "$tree"
    chmod 755 "$ROOT/target/postgresql-at-$commit" "$prefix"
    touch "$prefix/.built"
}

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
    as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

cluster_stop() {
    local dir=$1
    [ -d "$dir/data" ] && as_root runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

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
# end_tally EXIT_STATUS: the closing line; a script stopped early counts as failed, so that its
# tally never reads clean. Fails when anything failed.
end_tally() {
    if [ "$1" -ne 0 ] && [ "$FAILED" -eq 0 ]; then fail "the test stopped early (exit status $1)"; fi
    printf '%s passed; %s failed\n' "$PASSED" "$FAILED"
    [ "$FAILED" -eq 0 ]
}
