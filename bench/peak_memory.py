#!/usr/bin/env python3
"""Poll the scrap_sga job workers of a cluster and print their peak memory when told to stop.

Usage: peak_memory.py PSQL_ARGS... ; prints "pid rss_anon_peak_kb vm_hwm_kb cpu_seconds" per
worker seen. RssAnon is the backend's own memory (palloc and Rust heap); VmHWM also counts the
shared buffers the process touched, which grows with shared_buffers, not with the data.
cpu_seconds: the CPU time of the worker and its threads (user + system) when last seen, at most
20 ms before it ended: what a busy shared machine disturbs less than wall time.

The workers' /proc files are read every 20 ms, but once a worker is seen pg_stat_activity is
asked for new ones only every 200 ms: a psql started 50 times a second would take a good part of
a 2-core machine from the sync it measures.
"""
import os, signal, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")

psql = sys.argv[1:]
peaks = {}
running = True
signal.signal(signal.SIGTERM, lambda *_: globals().__setitem__("running", False))
next_lookup = 0.0
while running:
    if time.monotonic() >= next_lookup:
        out = subprocess.run(psql + ["-Atc", "SELECT pid FROM pg_stat_activity WHERE backend_type LIKE 'scrap_sga%'"],
                             capture_output=True, text=True).stdout.split()
        for pid in out:
            peaks.setdefault(pid, [0, 0, 0.0])
        # Until the first worker is seen, as often as its /proc files: a short sync is not missed.
        next_lookup = time.monotonic() + (0.2 if peaks else 0.0)
    for pid, p in peaks.items():
        try:
            # A worker that ended may leave its pid to another process.
            if b"scrap_sga" not in open(f"/proc/{pid}/cmdline", "rb").read():
                continue
            status = open(f"/proc/{pid}/status").read()
            # utime and stime: the 14th and 15th fields, the 12th and 13th after the name.
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        vals = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines() if l.startswith(("RssAnon", "VmHWM"))}
        p[0] = max(p[0], vals.get("RssAnon", 0))
        p[1] = max(p[1], vals.get("VmHWM", 0))
        p[2] = (int(stat[11]) + int(stat[12])) / TICK
    time.sleep(0.02)
for pid, (anon, hwm, cpu) in peaks.items():
    if anon or hwm:
        print(pid, anon, hwm, f"{cpu:.2f}")
