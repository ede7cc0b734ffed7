#!/usr/bin/env bash
# bench/full_sync.sh on several PostgreSQL majors in one run, side by side: each major's own
# build, its own cluster (target/postgresql/<major>/), the same simulator sizes, one after the
# other, ROUNDS times alternated (best of the rounds for records/s, the largest for memory).
#
# Usage: bench/majors.sh [MAJOR...]     (default: 15 18; ROUNDS=1; sizes as full_sync.sh's,
#                                        or SIZES="10000 50000 40000 200000")
# Prints figures; asserts nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
majors=("$@"); [ ${#majors[@]} -gt 0 ] || majors=(15 18)
OUT=$(mktemp -d /tmp/scrap_sga_majors.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for round in $(seq "${ROUNDS:-1}"); do
    for m in "${majors[@]}"; do
        echo "round $round, PostgreSQL $m" >&2
        # shellcheck disable=SC2086
        PG_MAJOR=$m bash "$here/full_sync.sh" ${SIZES:-} > "$OUT/$m.$round" 2>"$OUT/$m.$round.err" \
            || { cat "$OUT/$m.$round.err" >&2; exit 1; }
    done
done
python3 - "$OUT" "${majors[@]}" <<'PY'
import glob, re, sys
out, majors = sys.argv[1], sys.argv[2:]
rows = {}   # (size, what) -> {major: [values]}
order = []
for m in majors:
    for path in sorted(glob.glob(f"{out}/{m}.[0-9]*")):
        if path.endswith(".err"):
            continue
        size = None
        for line in open(path):
            if line.startswith("full sync of "):
                size = line[len("full sync of "):].rstrip(":\n")
                continue
            got = []
            if (r := re.match(r"\s+(\S+)\s+\d+ records in\s+[\d.]+ s =\s+(\d+) records/s", line)):
                got.append((f"{r[1]} records/s", int(r[2]), max))
            if (r := re.search(r"whole sync\(\) call: \d+ records in [\d.]+ s = (\d+) records/s", line)):
                got.append(("whole sync() records/s", int(r[1]), max))
            if (r := re.search(r"RssAnon (\d+) kB.*VmHWM (\d+) kB", line)):
                got.append(("sync worker peak RssAnon kB", int(r[1]), max))
                got.append(("sync worker peak VmHWM kB", int(r[2]), max))
            for what, v, pick in got:
                key = (size, what)
                if key not in rows:
                    rows[key] = {}
                    order.append(key)
                rows[key].setdefault(m, []).append(v)
width = max(len(w) for _, w in order) + 2
print(" " * (width + 2) + "".join(f"{'PostgreSQL ' + m:>16}" for m in majors))
last = None
for size, what in order:
    if size != last:
        print(f"full sync of {size}:")
        last = size
    vals = rows[(size, what)]
    print(f"  {what:<{width}}" + "".join(f"{max(vals[m]) if m in vals else '-':>16}" for m in majors))
PY
