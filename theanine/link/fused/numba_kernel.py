"""Calling compiled fused kernels: argument preparation and kernel choice.

:class:`Kernel` turns the caller's arrays into what one of the generated
kernels expects (flat contiguous operands with size-1 ones as scalars, 3-d
broadcast views, or ``(kept, reduced)`` 2-d views for reductions), allocates or
checks the outputs, copies inputs that overlap an output, and picks the serial
or the ``prange`` variant by size.  Layouts no kernel covers go to NumPy.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .numba_environment import prepare_numba
from .numpy_reference import REDUCERS, numpy_eval, write_outputs
from .program import COSTLY_OPS, KernelProgram

__all__ = ["Kernel", "PARALLEL_MIN", "PAR_LOCK", "needs_par_lock", "parallel_min"]


prepare_numba()     # before Numba is imported and its threads start

_F64 = np.dtype("float64")

#: smallest element count for which the ``prange`` kernels are ever used
PARALLEL_MIN = 1 << 14
#: the serial time (ns) from which a program's ``prange`` drivers are used: waking
#: the threads costs about 50 us a call (passive OpenMP threads), and a light
#: kernel is bound by memory, which both cores share (``x * x + 1``: 65,536
#: elements took 16 us serially and 63 us in parallel; a million 259 and 250 us)
PARALLEL_FROM_NS = 120_000
#: per-element serial cost (ns, one core, vectorized) of a transcendental function
#: (``exp`` about 0.85, ``tanh`` 1.0 on AVX-512), of any other op, and of the memory
_COSTLY_NS, _OP_NS, _MEMORY_NS = 1.0, 0.05, 0.25


def parallel_min(program: KernelProgram) -> int:
    """The element count from which ``program`` runs on the ``prange`` drivers: where
    its serial loop would take ``PARALLEL_FROM_NS`` by a rough cost per op."""
    ns = _MEMORY_NS + sum(_COSTLY_NS if op in COSTLY_OPS else _OP_NS
                          for _, op, _ in program.instructions)
    return max(PARALLEL_MIN, int(PARALLEL_FROM_NS / ns))


def _coalesce(shape, strides_list):
    """Merge adjacent axes that are contiguous for every operand; drop size-1 axes."""
    dims = [(s, [st[k] for st in strides_list]) for k, s in enumerate(shape) if s != 1]
    out: list = []
    for s, sts in dims:
        if out:
            ps, psts = out[-1]
            if all(pst == st * s for pst, st in zip(psts, sts)):
                out[-1] = (ps * s, sts)
                continue
        out.append((s, list(sts)))
    return out


def _view(a, shape, strides):
    return np.lib.stride_tricks.as_strided(a, shape=tuple(shape), strides=tuple(strides),
                                           writeable=a.flags.writeable)


def _as_3d(arrays, shape):
    """Views of broadcast ``arrays`` (all of ``shape``) as 3-d arrays, or None."""
    bstrides = [a.strides if a.shape == shape else np.broadcast_to(a, shape).strides
                for a in arrays]
    dims = _coalesce(shape, bstrides)
    if len(dims) > 3:
        return None
    while len(dims) < 3:
        dims.insert(0, (1, [0] * len(arrays)))
    shp = [d[0] for d in dims]
    views = []
    for k, a in enumerate(arrays):
        base = a if a.shape == shape else np.broadcast_to(a, shape)
        views.append(_view(base, shp, [d[1][k] for d in dims]))
    return shp, views


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape and a.dtype == b.dtype)


#: held around prange kernels when the threading layer must not be entered twice at once
PAR_LOCK = threading.Lock()


def needs_par_lock() -> bool:
    """Whether prange kernels must hold ``PAR_LOCK``: under Numba's ``workqueue``
    layer, and before any layer is chosen (it may become ``workqueue``)."""
    try:
        import numba

        return numba.threading_layer() == "workqueue"
    except ValueError:          # no parallel region has run yet
        return True
    except ImportError:
        return False


class Kernel:
    """A compiled fused kernel.  Call with the inputs (arrays or scalars).

    Elementwise programs return a list of output arrays; reduce programs return a
    one-element list with the reduced array (0-d for a full reduction).
    ``out=`` (an array or a sequence of arrays, one per output) receives the
    elementwise results; an output may be one of the inputs (in-place).
    """

    def __init__(self, program: KernelProgram, module=None, path=None, parallel=True):
        self.program = program
        self.module = module
        self.path = path
        self.parallel = parallel
        self.in_dtypes = [np.dtype(d) for _, d in program.inputs]
        self.out_dtypes = [np.dtype(d) for d in program.output_dtypes()]
        self._lock_par = None     # decided on the first parallel call (asking imports Numba)
        self.par_min = parallel_min(program)

    # ---------------------------------------------------------- reference
    def numpy_fallback(self, *arrays, out=None):
        res = numpy_eval(self.program, *arrays)
        if out is not None and self.program.reduce is None:
            return write_outputs(res, out)
        return res

    # ---------------------------------------------------------- call
    def _prep_inputs(self, arrays):
        if len(arrays) != len(self.in_dtypes):
            raise TypeError(f"expected {len(self.in_dtypes)} inputs, got {len(arrays)}")
        return [np.asarray(a, dtype=dt) for a, dt in zip(arrays, self.in_dtypes)]

    def _call(self, name, n, *args):
        if not self.parallel or n < self.par_min:
            return getattr(self.module, name + "_ser")(*args)
        fn = getattr(self.module, name + "_par")
        if self._lock_par is None:
            self._lock_par = needs_par_lock()
        if self._lock_par:
            with PAR_LOCK:
                return fn(*args)
        return fn(*args)

    def __call__(self, *arrays, out=None):
        if self.program.reduce is None:
            outs = self._flat_fast(arrays, out)
            if outs is not None:
                return outs
        ins = self._prep_inputs(arrays)
        shapes = [a.shape for a in ins]
        # the common case, operands of one shape, without NumPy's general rule
        shape = shapes[0] if shapes and shapes.count(shapes[0]) == len(shapes) \
            else np.broadcast_shapes(*shapes) if shapes else ()
        if self.program.reduce is not None:
            return [self._reduce(ins, shape)]
        return self._elementwise(ins, shape, out)

    def _elementwise(self, ins, shape, out):
        n = math.prod(shape)
        full = [a for a in ins if a.size != 1 or a.shape == shape]
        if out is None:
            order = "C"
            if full and not all(a.flags.c_contiguous for a in full) and \
                    all(a.flags.f_contiguous for a in full):
                order = "F"
            outs = [np.empty(shape, dt, order=order) for dt in self.out_dtypes]
            user_outs = None
        else:
            user_outs = [out] if isinstance(out, np.ndarray) else list(out)
            if len(user_outs) != len(self.out_dtypes):
                raise ValueError("wrong number of out arrays")
            for o in user_outs:
                if o is not None and o.shape != shape:
                    raise ValueError(f"out has shape {o.shape}, expected {shape}")
            # None: a fresh array for that output (a node overwriting one input)
            outs = [o if o is not None and o.dtype == dt else np.empty(shape, dt)
                    for o, dt in zip(user_outs, self.out_dtypes)]
        if n == 0:
            return self._finish(outs, user_outs)
        # operands that overlap an output without being the very same view are copied
        # (fresh outputs overlap nothing)
        for k, a in enumerate(ins if user_outs is not None else ()):
            for o in outs:
                if np.may_share_memory(a, o):
                    if not _same_view(a, o):
                        ins[k] = a.copy()
                    break
        args = [a.reshape(-1)[0] if (a.size == 1 and a.shape != shape) or a.ndim == 0
                else a for a in ins]
        arr_ops = [a for a in args if isinstance(a, np.ndarray)]
        flat = None
        if any(a.shape != shape for a in arr_ops):
            pass
        elif all(a.flags.c_contiguous for a in arr_ops + outs):
            flat = "C"
        elif all(a.flags.f_contiguous for a in arr_ops + outs):
            flat = "F"
        if flat is not None:
            fargs = [a.reshape(-1, order=flat) if isinstance(a, np.ndarray) else a
                     for a in args]
            fouts = [o.reshape(-1, order=flat) for o in outs]
            self._call("flat", n, n, *fargs, *fouts)
            return self._finish(outs, user_outs)
        arr_idx = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
        r = _as_3d([args[k] for k in arr_idx] + outs, shape)
        if r is None:
            # too many non-mergeable axes: contiguous copies, flat kernel
            cargs = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
                     if isinstance(a, np.ndarray) else a for a in args]
            couts = [np.empty(shape, dt) for dt in self.out_dtypes]
            self._call("flat", n, n, *cargs, *[o.reshape(-1) for o in couts])
            for o, c in zip(outs, couts):
                o[...] = c
            return self._finish(outs, user_outs)
        shp, views = r
        for pos, k in enumerate(arr_idx):
            args[k] = views[pos]
        vouts = views[len(arr_idx):]
        self._call("nd", n, shp[0], shp[1], shp[2], *args, *vouts)
        return self._finish(outs, user_outs)

    def _flat_fast(self, arrays, out):
        """The common call, without the general path's checks: C-contiguous arrays of
        the kernel's dtypes and one shape, plus one-element arrays that broadcast
        (passed as scalars, as the general path does), each result fresh or written
        over one of the arrays (its very array; ``out`` a list for several outputs,
        None where fresh); None when the call is anything else.  Plain loops, no
        generators: at a few hundred elements this path costs more than the kernel."""
        dts = self.in_dtypes
        if len(arrays) != len(dts) or not arrays:
            return None
        shape = None
        for a, dt in zip(arrays, dts):
            if type(a) is not np.ndarray or a.dtype != dt:
                return None
            if shape is None and a.size != 1:
                shape = a.shape       # the first operand of several elements
        if shape is None:
            shape = arrays[-1].shape
        ndim = len(shape)
        args = []
        for a in arrays:
            if a.shape == shape:
                if not a.flags.c_contiguous:
                    return None
                args.append(a if ndim == 1 else a.reshape(-1))
            elif a.size == 1 and a.ndim <= ndim:
                # broadcasts: a scalar (a Python float types as float64, 8x cheaper)
                args.append(a.item() if a.dtype is _F64 else a.reshape(-1)[0])
            else:
                return None                       # another shape, or a larger result
        if out is None:
            outs = [np.empty(shape, dt) for dt in self.out_dtypes]
        else:
            outs = self._given_outs(arrays, out, shape)
            if outs is None:
                return None
        n = shape[0] if ndim == 1 else math.prod(shape)
        if n:
            if ndim != 1:
                args.extend(o.reshape(-1) for o in outs)
            else:
                args.extend(outs)
            if n < self.par_min or not self.parallel:
                self.module.flat_ser(n, *args)
            else:
                self._call("flat", n, n, *args)
        return outs

    def _given_outs(self, arrays, out, shape):
        """The outputs for ``out`` (see ``_flat_fast``), or None if one is not usable."""
        given = [out] if type(out) is np.ndarray else out
        if len(given) != len(self.out_dtypes):
            return None
        outs = []
        for o, dt in zip(given, self.out_dtypes):
            if o is None:
                outs.append(np.empty(shape, dt))
                continue
            if type(o) is not np.ndarray or o.dtype != dt or o.shape != shape:
                return None
            mine = False
            for a in arrays:
                if a is o:
                    mine = True
                elif (a.base is not None or o.base is not None) \
                        and np.may_share_memory(a, o):     # two owners never overlap
                    return None
            if not mine:
                return None
            outs.append(o)
        return outs

    @staticmethod
    def _finish(outs, user_outs):
        if user_outs is None:
            return outs
        for u, o in zip(user_outs, outs):
            if u is not None and u is not o:
                np.copyto(u, o, casting="unsafe")
        return [o if u is None else u for u, o in zip(user_outs, outs)]

    def _reduce(self, ins, shape):
        rop, axes = self.program.reduce
        rdt = np.dtype(self.program.reduce_dtype())
        ndim = len(shape)
        if axes is None:
            axes = tuple(range(ndim))
        axes = tuple(sorted({ax % ndim if ndim else ax for ax in axes}))
        for ax in axes:
            if not (0 <= ax < max(ndim, 1)) or (ndim == 0 and ax != 0):
                raise ValueError(f"axis {ax} out of range for shape {shape}")
        n = math.prod(shape)
        kept = [d for d in range(ndim) if d not in axes]
        kshape = tuple(shape[d] for d in kept)
        R = int(np.prod([shape[d] for d in axes])) if axes else 1
        if R == 0 and rop in ("max", "min"):
            raise ValueError(f"zero-size array to reduction operation {rop} which has no "
                             "identity")
        args = [a.reshape(-1)[0] if (a.size == 1 and a.shape != shape) or a.ndim == 0
                else a for a in ins]
        arr_idx = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
        if not kept:
            if n == 0:
                return np.asarray(0 if rop == "sum" else 1, dtype=rdt)
            if all(args[k].shape == shape for k in arr_idx) and (
                    all(args[k].flags.c_contiguous for k in arr_idx)
                    or all(args[k].flags.f_contiguous for k in arr_idx)):
                fargs = [a.ravel(order="K") if isinstance(a, np.ndarray) else a
                         for a in args]
                return np.asarray(self._call("red_flat", n, n, *fargs), dtype=rdt)
            r = _as_3d([args[k] for k in arr_idx], shape)
            if r is not None:
                shp, views = r
                for pos, k in enumerate(arr_idx):
                    args[k] = views[pos]
                return np.asarray(self._call("red_nd", n, *shp, *args), dtype=rdt)
            return self._reduce_fallback(ins, axes)
        result = np.empty(kshape, rdt)
        if result.size == 0:
            return result
        if R == 0:
            result[...] = 0 if rop == "sum" else 1
            return result
        perm = kept + list(axes)
        tshape = tuple(shape[d] for d in perm)
        bviews = []
        for k in arr_idx:
            b = np.broadcast_to(args[k], shape).transpose(perm)
            bviews.append(b)
        nk = len(kept)
        K = result.size
        kst = _coalesce(tshape[:nk], [b.strides[:nk] for b in bviews] + [result.strides])
        rst = _coalesce(tshape[nk:], [b.strides[nk:] for b in bviews])
        if len(kst) > 1 or len(rst) > 1:
            return self._reduce_fallback(ins, axes)
        kstr = kst[0][1] if kst else [0] * (len(bviews) + 1)
        rstr = rst[0][1] if rst else [0] * len(bviews)
        for pos, k in enumerate(arr_idx):
            args[k] = _view(bviews[pos], (K, R), (kstr[pos], rstr[pos]))
        flat_out = result.reshape(-1)
        # reduce-inner when the reduced axis is the faster one in memory for most operands
        inner = sum(abs(rstr[p]) < abs(kstr[p]) for p in range(len(bviews))) * 2 >= len(bviews)
        name = "red_inner" if inner else "red_outer"
        self._call(name, K * R, K, R, *args, flat_out)
        return result

    def _reduce_fallback(self, ins, axes):
        res = numpy_eval(KernelProgram(self.program.inputs, self.program.instructions,
                                       self.program.dtypes, self.program.outputs, None), *ins)[0]
        return np.asarray(REDUCERS[self.program.reduce[0]](res, axis=axes))

    def warm_up(self):
        """Compile the serial flat kernel for all-array inputs (used by the async handle)."""
        ins = [np.zeros(2, dt) for dt in self.in_dtypes]
        return self(*ins)

