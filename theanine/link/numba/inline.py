"""Writing a node's generated function into its caller as plain statements.

Numba compiles every ``njit`` function on its own and then links it into each
caller, whose LLVM module is optimized and turned into machine code again with
the callee inside: a node function costs a whole compile (50-100 ms even for
``x.shape[0]``) and its code is compiled once more in every function that calls
it.  Most node functions are a few straight-line statements (a shape, a view, an
allocation, a BLAS call), so the whole-function emitter writes their bodies in
place instead (``JitBodyEmitter.emit_node``): one function, compiled once.

A body can be written in place when its source is one function whose only
``return`` is its last statement and which defines no function of its own
(those bodies come from self-contained sources, whose globals are the ones
every generated module imports: ``cache.GENERATED_IMPORTS``).  Its parameters
become fresh locals bound to the caller's values, every other local gets the
node's suffix, and the final ``return`` assigns the node's outputs.
"""

from __future__ import annotations

import ast
import copy
from functools import lru_cache

_FORBIDDEN = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Global,
              ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await)


@lru_cache(maxsize=4096)
def _parsed(src: str):
    """``(parameters, body statements, return value, local names)`` of ``src``, or
    None when its body cannot be written in place."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    fn = tree.body[0]
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs:
        return None
    if not fn.body or not isinstance(fn.body[-1], ast.Return) or fn.body[-1].value is None:
        return None
    head = fn.body[:-1]
    for stmt in head:
        for sub in ast.walk(stmt):
            if isinstance(sub, (*_FORBIDDEN, ast.Return)):
                return None
    if any(isinstance(sub, _FORBIDDEN) for sub in ast.walk(fn.body[-1])):
        return None
    params = tuple(p.arg for p in a.args)
    local = set(params)
    for sub in ast.walk(fn):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            local.add(sub.id)
    return params, head, fn.body[-1].value, frozenset(local)


class _Rename(ast.NodeTransformer):
    def __init__(self, local, suffix):
        self.local, self.suffix = local, suffix

    def visit_Name(self, node):
        if node.id in self.local:
            return ast.copy_location(ast.Name(f"{node.id}{self.suffix}", node.ctx), node)
        return node


def inline_statements(src: str, args: list[str], targets: str, suffix: str):
    """The statements that run ``src``'s function on the caller's ``args`` (names)
    and assign its result to ``targets`` (``"v3"`` or ``"v3, v4,"``); None when it
    cannot be written in place."""
    parsed = _parsed(src)
    if parsed is None:
        return None
    params, head, value, local = parsed
    if len(params) != len(args):
        return None
    rename = _Rename(local, suffix)
    lines = [f"{p}{suffix} = {arg}" for p, arg in zip(params, args)]
    for stmt in head:
        lines += ast.unparse(rename.visit(copy.deepcopy(stmt))).splitlines()
    lines.append(f"{targets} = {ast.unparse(rename.visit(copy.deepcopy(value)))}")
    return lines


__all__ = ["inline_statements"]
