"""The command line: click commands and shared options; converts errors to exit codes."""

from gradcheck.cli.commands import cli, join_vector_options, main

__all__ = ["cli", "join_vector_options", "main"]
