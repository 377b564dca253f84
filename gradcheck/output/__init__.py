"""Pure functions of results: JSON documents (no rich), rich tables and text, heat maps,
the PNG figure and JUnit XML."""
