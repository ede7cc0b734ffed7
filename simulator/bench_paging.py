#!/usr/bin/env python3
"""Paging through every line of the simulator, as a full sync reads them, at two sizes and with
one or more builds of the simulator side by side: what serving a record costs as the model grows
(the ratio of the per-record costs should be about 1).

Usage: python3 simulator/bench_paging.py BINARY [BINARY...] [--lines N1 N2] [--page 2000]

Each run starts `BINARY --orders N/5 --lines N` on a free port and pages through dimagaz.bc.line
by `search_read([["id", ">", last]], fields, order="id asc", limit=page)` over /jsonrpc. It prints
the time until each answer's headers came (the simulator builds the whole answer before sending
them: its serving time), the whole time with the client reading the bodies, the simulator's RSS
once started and at its peak, and the records it looked at (`records_visited` of /sim/stats, when
the build counts them). Timings on a shared machine: read the ratios, not the seconds.
"""
import http.client
import json
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


def call(conn, path, body):
    """(seconds until the headers, the decoded answer)."""
    t0 = time.perf_counter()
    conn.request("POST" if body is not None else "GET", path, body=json.dumps(body) if body is not None else None, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    served = time.perf_counter() - t0
    return served, json.loads(resp.read())


def run(binary, lines, page):
    proc = subprocess.Popen([binary, "--port", "0", "--orders", str(lines // 5), "--lines", str(lines)], stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        port = int(first.rsplit(":", 1)[1])
        rss_started = memory_kb(proc.pid, "VmRSS")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        call(conn, "/sim/stats/reset", {})
        last, records, served = 0, 0, 0.0
        t0 = time.perf_counter()
        while True:
            args = ["dimagaz", 2, "admin", "dimagaz.bc.line", "search_read", [[["id", ">", last]], FIELDS], {"order": "id asc", "limit": page, "context": {"active_test": False}}]
            s, answer = call(conn, "/jsonrpc", {"jsonrpc": "2.0", "id": 1, "method": "call", "params": {"service": "object", "method": "execute_kw", "args": args}})
            served += s
            rows = answer["result"]
            if not rows:
                break
            records += len(rows)
            last = rows[-1]["id"]
        whole = time.perf_counter() - t0
        _, stats = call(conn, "/sim/stats", None)
        assert records == lines, f"{records} lines paged, {lines} expected"
        return {"served": served, "whole": whole, "rss": rss_started, "hwm": memory_kb(proc.pid, "VmHWM"), "visited": stats.get("records_visited")}
    finally:
        proc.kill()
        proc.wait()


def main():
    args = sys.argv[1:]
    sizes, page = [500_000, 2_000_000], 2000
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
        for b in binaries:
            results[(b, lines)] = run(b, lines, page)
    small, big = sizes
    print(f"paging through dimagaz.bc.line by {page}, {small:,} and {big:,} lines (orders: a fifth)")
    for b in binaries:
        print(f"\n{b}")
        for lines in sizes:
            r = results[(b, lines)]
            visited = "-" if r["visited"] is None else f"{r['visited']:,} ({r['visited'] / lines:.2f} a line)"
            print(f"  {lines:>9,} lines: served in {r['served']:7.2f} s = {r['served'] / lines * 1e6:6.2f} us a line "
                  f"(with the client reading: {r['whole']:7.2f} s); RSS {r['rss'] // 1024} MB started, peak {r['hwm'] // 1024} MB; records looked at {visited}")
        a, z = results[(b, small)], results[(b, big)]
        print(f"  per-line serving cost, {big:,} vs {small:,}: x{(z['served'] / big) / (a['served'] / small):.2f} "
              f"(with the client: x{(z['whole'] / big) / (a['whole'] / small):.2f})")


if __name__ == "__main__":
    main()
