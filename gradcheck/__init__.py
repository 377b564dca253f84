"""gradcheck: check hand-derived backpropagation against torch autograd.

``from gradcheck import check`` is the Python API (``gradcheck.api``). Names are
resolved lazily, so importing the package (and ``gradcheck --help``) loads neither numpy nor
torch; torch is imported only when a check runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["GradcheckError", "LayerReport", "Report", "__version__", "check", "check_layer"]

if TYPE_CHECKING:
    from gradcheck.api import LayerReport, Report, check, check_layer
    from gradcheck.core.errors import GradcheckError

_LAZY = {
    "check": "gradcheck.api",
    "Report": "gradcheck.api",
    "check_layer": "gradcheck.api",
    "LayerReport": "gradcheck.api",
    "GradcheckError": "gradcheck.core.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
