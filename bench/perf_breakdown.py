#!/usr/bin/env python3
"""Where a sync worker's CPU went, by step of the write path, from a `perf record --call-graph`
profile of the worker (bench/write_cost.sh PERF=1 makes one).

Usage: perf_breakdown.py PERF_DATA WORKER_PID

Reads `perf script -F tid,ip,sym`. Each sample goes to the first step below one of whose
functions is on its stack (its own function or any caller), in the order listed: a sample in
malloc under convert_record counts as convert_record. The steps are named after the engine's and
PostgreSQL's functions as of this writing; a sample that matches none is counted as "other",
printed, so that a renamed function shows as a growing "other" rather than disappearing.
"""
import re
import subprocess
import sys
from collections import Counter

# (step, pattern matched against each frame's symbol), for the worker's own thread.
BACKEND = [
    # json_to_recordset calls the columns' input functions from pg_parse_json's callbacks.
    ("SQL: json_to_recordset (parsing the page's JSON, the values' input functions)", r"pg_parse_json|json_lex|populate_recordset"),
    ("SQL: planning the page statement", r"pg_plan_query|standard_planner"),
    ("SQL: parsing and analysing the page statement", r"raw_parser|parse_analyze"),
    ("SQL: the run's catalog rows (run log, full pass, live rows)", r"FullPass::checkpoint|RunLog::add|ModelState::add_live|RetryQueue"),
    ("SQL: ON CONFLICT's speculative insertion (lock, index pre-check)", r"ExecCheckIndexConstraints|SpeculativeInsertion|heap_finish_speculative"),
    ("SQL: index insertions", r"ExecInsertIndexTuples|btinsert"),
    ("SQL: heap insertion", r"heap_insert|heap_multi_insert"),
    ("SQL: the rest of the page statement", r"SPI_execute|standard_ExecutorRun"),
    ("commit", r"CommitTransaction|XLogFlush"),
    ("Rust: the page document handed to SPI (a copy)", r"into_datum"),
    ("Rust: convert_record", r"convert_record"),
    ("Rust: the page's JSON document (serialising)", r"pages::document|serde_json::ser|Serialize"),
    ("Rust: write dates read from each record", r"write_date_of"),
    ("Rust: freeing the page's records", r"drop_in_place|libc_free|_int_free|cfree"),
    ("Rust: the page's rows gathered in a BTreeMap", r"BTreeMap.*insert|btree::map::entry"),
    ("Rust: the rest of write_page", r"write_page"),
]
STREAMS = [
    ("streams: parsing Odoo's answers (serde_json)", r"serde_json::de|Deserialize"),
    ("streams: HTTP and the rest", r"."),
]


def classify(frames, steps):
    for name, pattern in steps:
        if any(re.search(pattern, f) for f in frames):
            return name
    return "other"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data, pid = sys.argv[1], sys.argv[2]
    out = subprocess.run(["perf", "script", "-i", data, "-F", "tid,ip,sym"], capture_output=True, text=True, check=True).stdout
    counts, backend, total = Counter(), Counter(), 0
    for sample in out.split("\n\n"):
        lines = [l for l in sample.splitlines() if l.strip()]
        if not lines:
            continue
        tid = lines[0].split()[0]
        frames = [l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "" for l in lines[1:]]
        total += 1
        if tid == pid:
            backend[classify(frames, BACKEND)] += 1
        else:
            counts[classify(frames, STREAMS)] += 1
    b = sum(backend.values())
    print(f"    {total} samples: {100 * b / total:.1f} % on the worker's own thread (the writer), {100 * (total - b) / total:.1f} % on the streams' threads")
    print(f"    {'step':78} {'% all':>6} {'% writer':>9}")
    for name, _ in BACKEND + [("other", "")]:
        if backend[name]:
            print(f"    {name:78} {100 * backend[name] / total:6.1f} {100 * backend[name] / b:9.1f}")
    for name, _ in STREAMS:
        if counts[name]:
            print(f"    {name:78} {100 * counts[name] / total:6.1f}")


if __name__ == "__main__":
    main()
