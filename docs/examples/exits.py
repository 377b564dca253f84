"""User code that calls sys.exit: gradcheck reports it and does not obey (docs/security.md)."""

import sys


def backward(params, x, y):
    sys.exit(0)
