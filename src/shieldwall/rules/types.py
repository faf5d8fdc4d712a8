"""Types of the rules language.

Scalars: ``Bool``, ``Int``, ``String`` (a byte string, as in wirefilter: the ``bytes`` of the
request, never decoded to text) and ``IP``. Containers: ``Array<T>`` and ``Map<T>`` (keys are
always strings). Runtime representation, shared by both compilers:

========  =================================================================================
Bool      ``bool``
Int       ``int``
String    ``bytes``
IP        ``int`` in one 128-bit space: IPv4 ``a.b.c.d`` is the IPv4-mapped ``::ffff:a.b.c.d``,
          so one prefix table serves both families and a mapped client matches IPv4 rules
Array<T>  ``list``
Map<T>    ``dict[bytes, T]``
========  =================================================================================

A value may be *missing* (``None``): a map key that is absent, an array index out of range, an
unparsable client address. Every comparison with a missing value is false and every function of
one is missing, so ``not http.request.headers["x"][0] eq "a"`` is true when there is no ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BOOL", "INT", "IP", "STRING", "Ty", "Type", "array_of", "map_of"]


@dataclass(frozen=True, slots=True)
class Type:
    kind: str  # "Bool" | "Int" | "String" | "IP" | "Array" | "Map"
    elem: Type | None = None  # element (Array) or value (Map) type

    def __str__(self) -> str:
        return f"{self.kind}<{self.elem}>" if self.elem is not None else self.kind

    @property
    def is_container(self) -> bool:
        return self.elem is not None


BOOL = Type("Bool")
INT = Type("Int")
STRING = Type("String")
IP = Type("IP")


def array_of(t: Type) -> Type:
    return Type("Array", t)


def map_of(t: Type) -> Type:
    return Type("Map", t)


@dataclass(frozen=True, slots=True)
class Ty:
    """What the checker knows about an expression.

    ``projected``: the expression is evaluated once per element of a ``[*]`` (its runtime value
    is a list, or None when the projected container is missing) and must be reduced by
    ``any()``/``all()``. ``nullable``: the value may be missing.
    """

    type: Type
    projected: bool = False
    nullable: bool = False

    def __str__(self) -> str:
        return f"{self.type}[*]" if self.projected else str(self.type)
