#!/usr/bin/env python3
"""Import cycles between the modules of a Rust crate: two modules that use each other (directly
or through others) are one concern split in two, or two concerns tangled. Reads `use` paths and
`crate::` / `super::` paths in code (comments and test modules left out); a module's use of its
own parent or children does not count. Prints each crate's cycles; exits 1 if there is one.

Usage: scripts/module_cycles.py SRC_DIR...   (e.g. src core/src)
"""
import os
import re
import sys


def modules(root):
    mods = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs"):
                parts = os.path.relpath(os.path.join(folder, f), root)[:-3].split(os.sep)
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                mods["::".join(parts)] = os.path.join(folder, f)
    return mods


def uses(mods, name, path):
    src = open(path, encoding="utf-8").read()
    src = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", src, flags=re.S)
    src = "\n".join(l for l in src.split("\n") if not l.strip().startswith("//"))
    parent = name.rsplit("::", 1)[0] if "::" in name else ""

    def base(head):
        if head == "crate":
            return []
        if head == "super":
            return parent.split("::") if parent else []
        return name.split("::")

    found = set()

    def add(path):
        for k in range(len(path), 0, -1):
            cand = "::".join(path[:k])
            if cand in mods:
                if cand != name:
                    found.add(cand)
                return

    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", src):
        add(base(m.group(1)) + m.group(2).strip(":").split("::"))
    for m in re.finditer(r"use (crate|super)::\{([^}]*)\}", src):
        for item in m.group(2).split(","):
            add(base(m.group(1)) + [item.strip().split("::")[0].split(" ")[0]])
    # A module's parent declares it, and a child may use its parent's items: neither is a cycle.
    return {t for t in found if not t.startswith(name + "::") and not name.startswith(t + "::") and t != ""}


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


status = 0
for root in sys.argv[1:]:
    mods = modules(root)
    found = cycles({n: uses(mods, n, p) for n, p in mods.items() if n})
    print(f"{root}: {len(mods)} modules, " + ("no import cycle" if not found else "cycles: " + "; ".join(" <-> ".join(c) for c in found)))
    status |= bool(found)
sys.exit(status)
