"""Symbolic input constructors: ``scalar vector matrix ...``, typed and plural forms.

``matrix`` follows ``floatX`` at call time; ``dmatrix``, ``ivector``... are TensorType
instances (calling one makes a variable).
"""

from __future__ import annotations

from theanine.config import config
from theanine.tensor.type import TensorType

_PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
             "d": "float64", "c": "complex64", "z": "complex128"}
_SHAPES = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
           "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
           "tensor5": (None,) * 5}
_PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
            "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s"}


def tensor(dtype=None, shape=None, name=None, broadcastable=None, ndim=None):
    """A symbolic tensor input: ``tensor('float32', shape=(None, 3), name='x')``."""
    if isinstance(dtype, str) and shape is None and broadcastable is None and ndim is None \
            and name is None and dtype not in _all_dtype_names():
        raise TypeError(f"tensor(): unknown dtype {dtype!r}; to name a tensor use "
                        "tensor(dtype, shape=..., name=...)")
    if dtype is None:
        dtype = config.floatX
    if shape is None and broadcastable is None:
        shape = (None,) * (ndim or 0)
    return TensorType(dtype, shape=shape, broadcastable=broadcastable)(name)


def _all_dtype_names():
    return set(_PREFIXES.values()) | {"bool", "uint8", "uint16", "uint32", "uint64",
                                      "float16", "floatX"}


def _make(kind: str, fixed_dtype: str | None):
    shape = _SHAPES[kind]

    def constructor(name=None, dtype=None, shape=shape):
        return TensorType(dtype or fixed_dtype or config.floatX, shape)(name)

    constructor.__name__ = kind
    constructor.__doc__ = f"A symbolic {kind} ({fixed_dtype or 'floatX'} by default)."
    return constructor


def _make_plural(single, kind):
    def plural(*names, dtype=None):
        def one(name):
            return single(name) if dtype is None else TensorType(dtype, _SHAPES[kind])(name)

        if len(names) == 1 and isinstance(names[0], int):
            return [one(None) for _ in range(names[0])]
        if len(names) == 1 and isinstance(names[0], str) and "," in names[0]:
            names = [n.strip() for n in names[0].split(",")]
        return [one(n) for n in names]

    plural.__doc__ = f"Several {kind} inputs: ``{_PLURALS[kind]}('a', 'b')``."
    return plural


def _build() -> dict:
    out = {}
    for kind in _SHAPES:
        out[kind] = _make(kind, None)
        out[_PLURALS[kind]] = _make_plural(out[kind], kind)
        for prefix, dtype in _PREFIXES.items():
            # typed constructors are TensorType instances, as in Theano: dmatrix('x')
            # makes a variable and dmatrix itself can be passed where a type is wanted
            name = prefix + kind
            out[name] = TensorType(dtype, _SHAPES[kind])
            out[prefix + _PLURALS[kind]] = _make_plural(out[name], kind)
    return out


CONSTRUCTORS = _build()
globals().update(CONSTRUCTORS)
__all__ = ["tensor", *CONSTRUCTORS]
