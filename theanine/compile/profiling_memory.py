"""Peak memory of a profiled run, replayed from the events the generated code recorded.

The profiled code of a function with ``profile_memory`` records, for its last
run, every node that ran (with the ``nbytes`` of its outputs), every ``del``
and every branch result bound by an ``IfElse``.  Replaying that sequence with
reference counts per storage gives the peak of the memory the function
allocated (its inputs and shared values are not counted), and replaying it
again with ``del`` statements ignored, or with views and in-place outputs
counted as fresh arrays, tells what garbage collection and in-place rewrites
save.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MemoryPeaks:
    """Peak bytes of one run: as executed, without GC, and without views/in-place."""

    executed: int
    no_gc: int
    no_views: int
    no_gc_no_views: int
    intermediates: int   # sum of the output sizes of every node that ran


def _aliased_input(node, out_idx: int):
    """The input an output shares memory with (declared view or destroy), or None."""
    op = node.op
    for mapping in (op.destroy_map, op.view_map):
        idxs = mapping.get(out_idx)
        if idxs:
            return node.inputs[idxs[0]]
    return None


def replay(profile, gc: bool = True, views: bool = True) -> int:
    """Peak live bytes when replaying ``profile``'s last run."""
    storage: dict = {}   # variable -> storage id (absent: not allocated by the function)
    refs: dict[int, int] = {}
    size: dict[int, int] = {}
    live = peak = 0
    next_id = 0

    def release(var) -> int:
        sid = storage.pop(var, None)
        if sid is None:
            return 0
        refs[sid] -= 1
        return size[sid] if refs[sid] == 0 else 0

    for event in profile.events:
        if event >= 0:
            node = profile.order[event]
            sizes = profile.sizes[event] or ()
            for j, out in enumerate(node.outputs):
                source = _aliased_input(node, j) if views else None
                if source is not None:
                    sid = storage.get(source)
                    if sid is not None:
                        storage[out] = sid
                        refs[sid] += 1
                    continue
                nbytes = sizes[j] if j < len(sizes) else 0
                storage[out] = next_id
                refs[next_id] = 1
                size[next_id] = nbytes
                next_id += 1
                live += nbytes
            peak = max(peak, live)
            continue
        action = profile.actions[~event]
        if action[0] == "del":
            if gc:
                for var in action[1]:
                    live -= release(var)
        else:
            _, target, value = action
            sid = storage.get(value)
            if sid is not None:
                storage[target] = sid
                refs[sid] += 1
    return peak


def memory_peaks(profile) -> MemoryPeaks | None:
    """The four peaks of ``profile``'s last run; None when it recorded no run."""
    if not profile.memory or not profile.events:
        return None
    ran = {e for e in profile.events if e >= 0}
    total = sum(sum(profile.sizes[p] or ()) for p in ran)
    return MemoryPeaks(
        executed=replay(profile, gc=True, views=True),
        no_gc=replay(profile, gc=False, views=True),
        no_views=replay(profile, gc=True, views=False),
        no_gc_no_views=replay(profile, gc=False, views=False),
        intermediates=total,
    )


def largest_nodes(profile, n: int) -> list[tuple[int, object, int]]:
    """``(position, node, output bytes)`` of the ``n`` nodes with the largest outputs."""
    rows = [(pos, profile.order[pos], sum(s)) for pos, s in enumerate(profile.sizes)
            if s is not None]
    rows.sort(key=lambda r: -r[2])
    return rows[:n]


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
