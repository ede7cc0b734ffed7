#!/usr/bin/env python3
"""Odoo's own serving time of a full copy's pages: a plain client pages through a model as a
full sync reads it, and times what Odoo spends on each answer (bench/pace.sh compares it with the
sync's time).

Usage: serve_pages.py URL DB LOGIN PASSWORD MODEL FIELDS PAGE STREAMS
  FIELDS: comma-separated, as the sync asks them (scrap_sga.model_field); PAGE: records a request;
  STREAMS: 1, or N streams at once, each paging by keyset through one of N id ranges of equal
  width between the model's lowest and highest id (the last one open-ended), each stream in a
  process of its own (no interpreter lock between their clocks).

Every request is what the sync sends over JSON-RPC (Odoo 16 to 18): `search_read` of
`[["id", ">", last], ["id", "<=", end]]`, `order: "id asc"`, `limit: PAGE`, `active_test: False`.

Prints one JSON object: records, requests, answers' bytes, and per stream `served` (the sum of
the times until each answer's headers came: Odoo builds the whole answer, and spends its serving
time, before it sends them, so this is Odoo's time and not the client's), `exchange` (with the
client reading the bodies, not parsing them) and the stream's wall time. `served_max` is the
slowest stream's `served`: the time N streams keep Odoo busy, which is what a sync at
`parallel = N` cannot beat.
"""
import http.client
import json
import multiprocessing
import sys
import time
from urllib.parse import urlsplit


def rpc(conn, service, method, args):
    """(seconds until the headers, seconds for the whole exchange, the body)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "call", "params": {"service": service, "method": method, "args": args}})
    t0 = time.perf_counter()
    conn.request("POST", "/jsonrpc", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    headers = time.perf_counter() - t0
    data = resp.read()
    whole = time.perf_counter() - t0
    if resp.status != 200:
        raise RuntimeError(f"{method}: HTTP {resp.status}: {data[:200]!r}")
    return headers, whole, data


def result(data):
    answer = json.loads(data)
    if "error" in answer:
        raise RuntimeError(json.dumps(answer["error"])[:500])
    return answer["result"]


def connect(url):
    u = urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port)


def login(conn, db, user, password):
    return result(rpc(conn, "common", "authenticate", [db, user, password, {}])[2])


def search_read(conn, auth, model, domain, fields, limit, order="id asc"):
    db, uid, password = auth
    kw = {"fields": fields, "order": order, "limit": limit, "context": {"active_test": False}}
    return rpc(conn, "object", "execute_kw", [db, uid, password, model, "search_read", [domain], kw])


def stream(job):
    """Page through one id range (lo, hi or None) by keyset; this process's own connection."""
    url, auth, model, fields, page, (lo, hi) = job
    conn = connect(url)
    last, records, requests, nbytes, served, exchange = lo, 0, 0, 0, 0.0, 0.0
    start = time.perf_counter()
    while True:
        domain = [["id", ">", last]] + ([["id", "<=", hi]] if hi is not None else [])
        h, w, data = search_read(conn, auth, model, domain, fields, page)
        served, exchange, requests, nbytes = served + h, exchange + w, requests + 1, nbytes + len(data)
        rows = result(data)
        records += len(rows)
        if len(rows) < page:
            break
        last = rows[-1]["id"]
    # perf_counter is CLOCK_MONOTONIC: one clock for every process of the machine.
    return {"records": records, "requests": requests, "bytes": nbytes, "served": served, "exchange": exchange, "start": start, "end": time.perf_counter()}


def ranges(conn, auth, model, streams):
    """`streams` ranges of equal id width over the model's ids, the last open-ended."""
    if streams <= 1:
        return [(0, None)]
    lowest = result(search_read(conn, auth, model, [], ["id"], 1, "id asc")[2])
    highest = result(search_read(conn, auth, model, [], ["id"], 1, "id desc")[2])
    if not lowest:
        return [(0, None)]
    lo, hi = lowest[0]["id"] - 1, highest[0]["id"]
    step = max((hi - lo) // streams, 1)
    cuts = [lo + k * step for k in range(1, streams) if lo + k * step < hi]
    bounds = [0] + cuts
    return [(a, b) for a, b in zip(bounds, cuts + [None])]


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    url, db, user, password, model, fields, page, streams = sys.argv[1:]
    fields, page, streams = fields.split(","), int(page), int(streams)
    conn = connect(url)
    auth = (db, login(conn, db, user, password), password)
    jobs = [(url, auth, model, fields, page, r) for r in ranges(conn, auth, model, streams)]
    conn.close()
    if len(jobs) == 1:
        runs = [stream(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            runs = pool.map(stream, jobs, chunksize=1)
    print(json.dumps({
        "model": model,
        "streams": len(runs),
        "records": sum(r["records"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "bytes": sum(r["bytes"] for r in runs),
        "served_max": max(r["served"] for r in runs),
        "served_sum": sum(r["served"] for r in runs),
        "exchange_max": max(r["exchange"] for r in runs),
        "wall": max(r["end"] for r in runs) - min(r["start"] for r in runs),
        "per_stream": [{k: r[k] for k in ("records", "requests", "served", "exchange")} for r in runs],
    }))


if __name__ == "__main__":
    main()
