"""The JSON Schema of gradcheck's JSON documents, shipped as package data (``schema.json``).

What the records define is filled in, not written twice: the oracle's methods
(``core/oracle_methods.py``) become the enum of ``oracle.method``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from gradcheck.core.oracle_methods import METHODS


def load_schema() -> dict[str, Any]:
    """The schema, with the oracle's methods filled in from their records."""
    text = resources.files("gradcheck.io").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    schema["$defs"]["oracle_section"]["properties"]["method"] = {"enum": list(METHODS)}
    return schema


def schema_text() -> str:
    """The schema as ``gradcheck schema`` prints it: JSON, two-space indents, one line feed."""
    return json.dumps(load_schema(), indent=2, ensure_ascii=False) + "\n"
