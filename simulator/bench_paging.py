#!/usr/bin/env python3
"""Paging through every line of the simulator, as a full sync reads them, at two sizes and with
one or more builds of the simulator side by side: what serving a record costs as the model grows
(the ratio of the per-record costs should be about 1).

Usage: python3 simulator/bench_paging.py BINARY [BINARY...] [--lines N1 N2] [--page 2000] [--fields f1,f2]

Each run starts `BINARY --orders N/5 --lines N` on a free port and pages through dimagaz.bc.line
by `search_read([["id", ">", last]], fields, order="id asc", limit=page)` over /jsonrpc. It prints
the time until each answer's headers came (the simulator builds the whole answer before sending
them: its serving time), the CPU time the simulator spent meanwhile (what a busy shared machine
disturbs least), the whole time with the client reading the bodies, the simulator's RSS once
started and at its peak, and the records it looked at (`records_visited` of /sim/stats, when the
build counts them). Timings on a shared machine: read the ratios, not the seconds.
"""
import http.client
import json
import os
import subprocess
import sys
import time

FIELDS = ["write_date", "product_qty", "price_unit", "order_id"]


def memory_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime, the 14th and 15th fields of the line (11th and 12th after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def call(conn, path, body):
    """(seconds until the headers, the decoded answer)."""
    t0 = time.perf_counter()
    conn.request("POST" if body is not None else "GET", path, body=json.dumps(body) if body is not None else None, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    served = time.perf_counter() - t0
    return served, json.loads(resp.read())


def run(binary, lines, page, fields):
    proc = subprocess.Popen([binary, "--port", "0", "--orders", str(lines // 5), "--lines", str(lines)], stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        port = int(first.rsplit(":", 1)[1])
        rss_started = memory_kb(proc.pid, "VmRSS")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        call(conn, "/sim/stats/reset", {})
        last, records, served = 0, 0, 0.0
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        while True:
            args = ["dimagaz", 2, "admin", "dimagaz.bc.line", "search_read", [[["id", ">", last]], fields], {"order": "id asc", "limit": page, "context": {"active_test": False}}]
            s, answer = call(conn, "/jsonrpc", {"jsonrpc": "2.0", "id": 1, "method": "call", "params": {"service": "object", "method": "execute_kw", "args": args}})
            served += s
            rows = answer["result"]
            if not rows:
                break
            records += len(rows)
            last = rows[-1]["id"]
        whole = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        _, stats = call(conn, "/sim/stats", None)
        assert records == lines, f"{records} lines paged, {lines} expected"
        return {"served": served, "cpu": cpu, "whole": whole, "rss": rss_started, "hwm": memory_kb(proc.pid, "VmHWM"), "visited": stats.get("records_visited")}
    finally:
        proc.kill()
        proc.wait()


def main():
    args = sys.argv[1:]
    sizes, page, fields = [500_000, 2_000_000], 2000, FIELDS
    if "--fields" in args:
        i = args.index("--fields")
        fields = args[i + 1].split(",")
        del args[i:i + 2]
    if "--lines" in args:
        i = args.index("--lines")
        sizes = [int(args[i + 1]), int(args[i + 2])]
        del args[i:i + 3]
    if "--page" in args:
        i = args.index("--page")
        page = int(args[i + 1])
        del args[i:i + 2]
    binaries = args
    if not binaries:
        sys.exit(__doc__)
    results = {}
    # Sizes outside, builds inside: each build's two runs are as close in time as can be.
    for lines in sizes:
        for i, b in enumerate(binaries):
            results[(i, lines)] = run(b, lines, page, fields)
    small, big = sizes
    print(f"paging through dimagaz.bc.line by {page} ({', '.join(fields)}), {small:,} and {big:,} lines (orders: a fifth)")
    for i, b in enumerate(binaries):
        print(f"\n{b}")
        for lines in sizes:
            r = results[(i, lines)]
            visited = "-" if r["visited"] is None else f"{r['visited']:,} ({r['visited'] / lines:.2f} a line)"
            print(f"  {lines:>9,} lines: served in {r['served']:6.2f} s = {r['served'] / lines * 1e6:5.2f} us a line, CPU {r['cpu']:6.2f} s = {r['cpu'] / lines * 1e6:5.2f} us a line "
                  f"(with the client reading: {r['whole']:6.2f} s); RSS {r['rss'] // 1024} MB started, peak {r['hwm'] // 1024} MB; records looked at {visited}")
        a, z = results[(i, small)], results[(i, big)]
        ratio = lambda key: (z[key] / big) / (a[key] / small)
        print(f"  per-line cost, {big:,} vs {small:,}: serving x{ratio('served'):.2f}, CPU x{ratio('cpu'):.2f}, with the client x{ratio('whole'):.2f}")


if __name__ == "__main__":
    main()
