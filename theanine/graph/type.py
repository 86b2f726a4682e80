"""Type: what values a Variable may hold, and how to convert user data to them."""

from __future__ import annotations

from theanine.graph.basic import Constant, Variable


class Type:
    """Base class of types; subclasses say how to filter and compare values."""

    variable_type = Variable
    constant_type = Constant

    def filter(self, data, strict: bool = False, allow_downcast=None):
        """Return ``data`` converted to a valid value of this type, or raise TypeError."""
        raise NotImplementedError

    def is_valid_value(self, data) -> bool:
        try:
            self.filter(data, strict=True)
            return True
        except (TypeError, ValueError):
            return False

    def make_variable(self, name=None) -> Variable:
        return self.variable_type(self, None, None, name)

    def make_constant(self, data, name=None) -> Constant:
        return self.constant_type(self, data, name)

    def __call__(self, name=None) -> Variable:
        return self.make_variable(name)

    def convert_variable(self, var: Variable):
        """Return ``var`` as a Variable of this type when that is safe, else None."""
        if var.type == self:
            return var
        return None

    def values_eq(self, a, b) -> bool:
        return a == b

    def values_eq_approx(self, a, b) -> bool:
        return self.values_eq(a, b)

    def value_signature(self, data):
        """A hashable summary of a constant's value, for merging equal constants."""
        return data

    def may_share_memory(self, a, b) -> bool:
        return False


class GenericType(Type):
    """Any Python object (used for opaque values such as random generators)."""

    def filter(self, data, strict=False, allow_downcast=None):
        return data

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __str__(self):
        return "generic"

    def value_signature(self, data):
        return id(data)


generic = GenericType()
