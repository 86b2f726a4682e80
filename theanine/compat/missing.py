"""What to say when a program asks for a Theano name theanine lacks.

The message names the missing name, says it is Theano's, and points to what to use
instead: a hand-written hint for names theanine deliberately does not offer, or the
theanine module that has a name of that spelling somewhere else.
"""

from __future__ import annotations

import importlib

# names theanine does not offer on purpose, and what to use instead
INSTEAD = {
    "theano.sandbox.cuda": "theanine has no CUDA array backend; compile with mode='JAX' "
                           "and config.device='cuda' to run on an NVIDIA GPU",
    "theano.gpuarray": "theanine has no gpuarray backend; compile with mode='JAX' and "
                       "config.device='cuda' to run on a GPU",
    "theano.sandbox.gpuarray": "theanine has no gpuarray backend; compile with mode='JAX' "
                               "and config.device='cuda' to run on a GPU",
    "theano.tensor.nlinalg.lstsq": "solve the normal equations with "
                                   "theanine.tensor.slinalg.solve, or use pinv",
    "theano.scan_module.scan_utils.scan_args": "a theanine Scan op keeps its inner graph "
                                               "in op.fgraph and its layout in op.info",
    "theano.tensor.nnet.conv3d2d": "use theanine.tensor.nnet's conv3d where available",
}

# where a name of the same spelling may live in theanine
_HOMES = ("theanine", "theanine.tensor", "theanine.tensor.nnet", "theanine.tensor.nlinalg",
          "theanine.tensor.slinalg", "theanine.tensor.extra_ops", "theanine.gradient",
          "theanine.compile", "theanine.scan", "theanine.printing")


def missing_message(module_name: str, name: str) -> str:
    full = f"{module_name}.{name}"
    message = f"{full}: a Theano name theanine does not provide"
    hint = INSTEAD.get(full) or INSTEAD.get(module_name)
    if hint is None:
        homes = [home for home in _HOMES
                 if not name.startswith("_") and hasattr(importlib.import_module(home), name)]
        if homes:
            hint = f"theanine offers {name} as {homes[0]}.{name}"
    if hint is None:
        hint = "see docs/theano_compat.md for what theanine offers and what to use instead"
    return f"{message} ({hint})"
