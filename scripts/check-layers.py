#!/usr/bin/env python3
"""Prints RWS's module import graph and fails on a layering break.

RWS is built in layers whose dependencies point down only:

    http/        handlers: parse, authorize, call the core, render
      |
    (services)   hub, storage, keys, dispatch, … : the core's moving parts
      |
    store/       every SQL statement; returns domain types
      |
    recording/   pure rules: states, transitions, finishing, orphans

The check reads every `crate::…` path in `crates/rws/src` (grouped `use
crate::{a, b::c}` too), maps each file to its top-level module (`store/x.rs`
→ `store`) and fails when:

- the graph of top-level modules has a cycle (the crate root, `lib.rs`, is
  the composition root that wires everything and is left out; an item it
  defines is the node `crate`);
- `recording` imports anything of the crate, or `store` anything but
  `recording` (and `error`, whose types it returns);
- anything below `http` imports `http`;
- `http` imports `store` (handlers call the core, never a SQL statement).

Test modules (`#[cfg(test)] mod … { … }`) are left out: a test may open a
database through the composition root (`crate::open_db`) without that
being a dependency of the code it tests.

Usage: scripts/check-layers.py [SRC_DIR]  (exit 1 on a break)
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "rws", "src")

# What each lower layer may import (besides itself).
ALLOWED = {
    "recording": set(),
    "store": {"recording", "error"},
}
TOP = "http"
# What the top layer may not import: it parses, authorizes, calls the core
# and renders; the store is the core's.
TOP_FORBIDDEN = {"store"}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())


def strip_test_modules(text):
    """Removes every `#[cfg(test)] mod name { … }` block (braces matched)."""
    out, pos = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(#\[[^\]]*\]\s*)*(pub(\(\w+\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < pos:
            continue
        out.append(text[pos:m.start()])
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        pos = i
    out.append(text[pos:])
    return "".join(out)


def top_names(group):
    """Top-level names inside `{a, b::c, d::{e, f}}` (the outer braces removed)."""
    names, depth, item = [], 0, ""
    for ch in group:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(item)
            item = ""
        else:
            item += ch
    names.append(item)
    out = []
    for n in names:
        m = re.match(r"\s*(\w+)", n)
        if m:
            out.append(m.group(1))
    return out


def references(text):
    refs = set()
    for m in re.finditer(r"\bcrate::(\{|\w+)", text):
        if m.group(1) == "{":
            start = m.end()
            depth, i = 1, start
            while i < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            refs.update(top_names(text[start:i - 1]))
        else:
            refs.add(m.group(1))
    return refs


def module_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def main():
    files = []
    for root, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                files.append(os.path.relpath(os.path.join(root, n), SRC))
    modules = {module_of(f) for f in files if f != "lib.rs"}
    graph = {m: set() for m in modules}
    for f in sorted(files):
        if f == "lib.rs":
            continue
        me = module_of(f)
        with open(os.path.join(SRC, f), encoding="utf-8") as fh:
            text = strip_test_modules(strip_comments(fh.read()))
        for r in references(text):
            target = r if r in modules else "crate"
            if target != me:
                graph[me].add(target)

    print("RWS module imports (crate = an item of lib.rs):")
    for m in sorted(graph):
        print(f"  {m:<18} -> {', '.join(sorted(graph[m])) or '-'}")

    errors = []
    for low, allowed in ALLOWED.items():
        if low in graph:
            for t in sorted(graph[low] - allowed):
                errors.append(f"{low} must not import {t}")
    if TOP in graph:
        for t in sorted(graph[TOP] & TOP_FORBIDDEN):
            errors.append(f"{TOP} must not import {t} (call the core)")
    for m in sorted(graph):
        if m != TOP and TOP in graph[m]:
            errors.append(f"{m} is below {TOP} and must not import it")

    # Cycles: Tarjan's strongly connected components over the modules.
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for scc in sccs:
        errors.append("cycle among: " + ", ".join(scc))

    if errors:
        print("layering broken:")
        for e in errors:
            print(f"  {e}")
        return 1
    print("layers ok: no cycle, lower layers do not import upper ones, http does not import store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
