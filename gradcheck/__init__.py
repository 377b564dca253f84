"""gradcheck: check hand-derived backpropagation against torch autograd.

``from gradcheck import check`` is the Python API (see ``gradcheck.check.check``). torch is
imported only when a check runs, so importing the package (and ``gradcheck --help``) stays
light.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Bound eagerly, not through a lazy module ``__getattr__``: the function shares its name with
# the submodule ``gradcheck.check``, and importing that submodule later would rebind the
# package attribute to the module. Imported here, first, the function keeps the name.
from gradcheck.check import check
from gradcheck.errors import GradcheckError
from gradcheck.report import Report

__all__ = ["GradcheckError", "Report", "__version__", "check"]
