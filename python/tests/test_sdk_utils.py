"""lago.sdk_utils: @expose marks and the SDKWrapper proxy."""

from __future__ import annotations

import pytest

from lago import sdk_utils


class Thing:
    @sdk_utils.expose
    def shown(self, x: int) -> int:
        return x + 1

    def hidden(self) -> None:
        pass

    value = 3


def test_wrapper_shows_only_exposed() -> None:
    wrapped = sdk_utils.SDKWrapper(Thing())
    assert wrapped.shown(1) == 2
    assert dir(wrapped) == ["shown"]
    for name in ("hidden", "value", "missing"):
        with pytest.raises(AttributeError):
            getattr(wrapped, name)


def test_expose_keeps_function_and_marks_class() -> None:
    @sdk_utils.expose
    class Marked:
        pass

    assert sdk_utils.is_exposed(Marked)
    assert not sdk_utils.is_exposed(Thing)
    assert Thing.shown.__name__ == "shown"
    assert sdk_utils.getattr_sdk(Thing().shown, "shown")(4) == 5
    with pytest.raises(AttributeError):
        sdk_utils.getattr_sdk("a string", "x")
