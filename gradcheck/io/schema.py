"""The JSON Schema of gradcheck's JSON documents, shipped as package data (``schema.json``)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def schema_text() -> str:
    """``schema.json`` exactly as shipped."""
    return resources.files("gradcheck.io").joinpath("schema.json").read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    """``schema.json`` parsed."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema
