"""Layer 5: compiling graphs into Functions; modes; shared variables."""

from theanine.compile.function_module import Function, FunctionMaker, function
from theanine.compile.io import In, Out
from theanine.compile.mode import Mode, get_default_mode, get_mode, register_linker, register_mode
from theanine.compile.profilemode import ProfileMode
from theanine.compile.profiling import ProfileStats
from theanine.graph.op import as_op
from theanine.graph.shared import SharedVariable, shared

__all__ = ["Function", "FunctionMaker", "function", "In", "Out", "Mode", "get_mode",
           "get_default_mode",
           "register_linker", "register_mode", "as_op", "SharedVariable", "shared",
           "ProfileStats", "ProfileMode"]
