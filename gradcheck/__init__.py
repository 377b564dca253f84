"""gradcheck: check hand-derived backpropagation against torch autograd."""

from __future__ import annotations

__version__ = "0.1.0"
