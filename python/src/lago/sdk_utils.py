"""What the SDK lets through: ``@expose`` marks a function, method or class
as part of the SDK, and :class:`SDKWrapper` is a proxy that shows only the
marked attributes of the object it wraps (Lago's ``lago.sdk_utils``)."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar, cast

_T = TypeVar("_T")

#: Attribute set on an exposed function or method.
SDK_META = "_sdkmeta"
#: Attribute set on an exposed class.
SDK_META_CLASS = "_sdkmetaclass"


def expose(obj: _T) -> _T:
    """Marks ``obj`` as reachable through the SDK.

    A class gets the class mark; a function gets a wrapper carrying the
    function mark (so a bound method can be exposed too, without touching
    the function it is bound to).
    """
    if isinstance(obj, type):
        setattr(obj, SDK_META_CLASS, True)
        return obj
    func = cast(Callable[..., Any], obj)

    @functools.wraps(func)
    def exposed(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    setattr(exposed, SDK_META, True)
    return cast(_T, exposed)


def is_exposed(attr: Any) -> bool:
    """Whether ``attr`` (a function, bound method or class) was exposed."""
    if isinstance(attr, type):
        return bool(getattr(attr, SDK_META_CLASS, False))
    return callable(attr) and bool(getattr(attr, SDK_META, False))


def getattr_sdk(attr: Any, name: str) -> Any:
    """Returns ``attr`` if it was exposed, else raises ``AttributeError``
    naming ``name``."""
    if is_exposed(attr):
        return attr
    raise AttributeError(f"{name!r} is not part of the SDK")


class SDKWrapper:
    """A proxy showing only the exposed attributes of the wrapped object:
    others raise ``AttributeError`` and are left out of ``dir()``."""

    def __init__(self, obj: Any) -> None:
        object.__setattr__(self, "_sdk_obj", obj)

    def __getattr__(self, name: str) -> Any:
        obj = object.__getattribute__(self, "_sdk_obj")
        return getattr_sdk(getattr(obj, name), name)

    def __dir__(self) -> list[str]:
        obj = object.__getattribute__(self, "_sdk_obj")
        names = []
        for name in dir(obj):
            try:
                attr = getattr(obj, name)
            except AttributeError:
                continue
            if is_exposed(attr):
                names.append(name)
        return sorted(names)
