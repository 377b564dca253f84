"""Everything read from or written to the outside: inputs, weights, gradient files, the user's
own code, atomic result files and the JSON schema. Converts bad input to ``GradcheckError``."""
