#!/usr/bin/env python3
"""Fails when a crate's top-level modules import each other in a circle.

Every top-level module of a crate (`src/foo.rs` or `src/foo/`) is a node; a `crate::bar`
path anywhere in foo's files (a `use`, a full path, a `crate::{bar, baz}` group, or a name
the crate root re-exports from bar) is an edge foo -> bar. Modules that reach each other, directly or through others, cannot be read or
changed one at a time, so the layering must stay a DAG: shared vocabulary (errors, small
types) at the bottom, commands at the top.

Usage: scripts/check-module-cycles.py [--verbose] [CRATE_SRC_DIR ...]  (default: the crates)
Prints each crate's edges with --verbose; on a cycle, names the modules and the lines that
import along it, and exits 1.
"""

import os
import re
import sys

# The product's crates and the test-database harness.
DEFAULT_ROOTS = ["domain/src", "migrate-bin/src", "seed-bin/src", "tests/testdb/src"]

# Comments (doc links are mentions, not imports) and string literals are not edges. One
# left-to-right scan, so a quote inside a comment or a char literal ('"') opens nothing.
NOT_CODE = re.compile(
    r"//[^\n]*"  # line and doc comments
    r"|/\*.*?\*/"  # block comments
    r'|\br(#*)".*?"\1'  # raw strings
    r'|"(?:[^"\\]|\\.)*"'  # strings (and byte strings, after their b)
    r"|'(?:[^'\\\n]|\\[^\n]{1,9})'",  # char literals; a lifetime has no closing quote
    re.S,
)
PATH = re.compile(r"\bcrate::(\w+)")
GROUP = re.compile(r"\bcrate::\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def blank(match):
    # Keep the line count so reported line numbers stay right.
    return "\n" * match.group(0).count("\n")


def edges_of(root):
    """{module: {imported module: [(file, line), ...]}} for the crate under `root`."""
    edges = {}
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue  # the crate root sits above every module
            with open(path, encoding="utf-8") as f:
                text = NOT_CODE.sub(blank, f.read())
            targets = edges.setdefault(top, {})
            hits = [(m.start(), m.group(1)) for m in PATH.finditer(text)]
            for group in GROUP.finditer(text):
                for item in re.findall(r"(?:^|,)\s*(\w+)", group.group(1)):
                    hits.append((group.start(), item))
            for pos, target in hits:
                if target not in ("self", "super", top):
                    line = text.count("\n", 0, pos) + 1
                    targets.setdefault(target, []).append((path, line))
    # `crate::Name` for something the crate root re-exports is an edge to the module it comes
    # from; paths to the root's own items (`crate::run`, a macro) are not edges.
    via_root = root_reexports(root, set(edges))
    resolved = {}
    for module, targets in edges.items():
        out = resolved.setdefault(module, {})
        for target, where in targets.items():
            target = target if target in edges else via_root.get(target)
            if target is not None and target != module:
                out.setdefault(target, []).extend(where)
    return resolved


def root_reexports(root, modules):
    """{name: module} for every `use` / `pub use` of a module's items in lib.rs or main.rs."""
    names = {}
    for file in ("lib.rs", "main.rs"):
        path = os.path.join(root, file)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = NOT_CODE.sub(blank, f.read())
        for tree in re.findall(r"\buse\s+([^;]+);", text):
            parts = re.sub(r"^(?:crate|self)::", "", tree.strip()).split("::", 1)
            if parts[0] not in modules or len(parts) < 2:
                continue
            for name, alias in re.findall(r"(\w+)(?:\s+as\s+(\w+))?", parts[1]):
                if name not in ("self", "super", "as") and (alias or name) not in modules:
                    names[alias or name] = parts[0]
    return names


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main(argv):
    verbose = "--verbose" in argv
    workspace = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = [a for a in argv if a != "--verbose"] or [
        os.path.relpath(os.path.join(workspace, r)) for r in DEFAULT_ROOTS
    ]
    failed = False
    for root in roots:
        if not os.path.isdir(root):
            print(f"check-module-cycles: {root} is not a folder; pass a crate's src/ folder", file=sys.stderr)
            return 2
        edges = edges_of(root)
        if verbose:
            for module in sorted(edges):
                print(f"  {root}: {module} -> {', '.join(sorted(edges[module])) or '(nothing)'}")
        found = cycles(edges)
        if not found:
            print(f"{root}: no module import cycles ({len(edges)} modules)")
            continue
        failed = True
        for component in found:
            print(f"{root}: modules import each other in a circle: {', '.join(component)}", file=sys.stderr)
            inside = set(component)
            for module in component:
                for target in sorted(set(edges[module]) & inside):
                    for path, line in edges[module][target]:
                        print(f"  {path}:{line}: {module} -> {target}", file=sys.stderr)
        print(
            "Move what both sides need into a module below them (the error type and small shared "
            "types sit at the bottom, commands at the top) or into the one module that uses it, "
            "so imports point one way.",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
