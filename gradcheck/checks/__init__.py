"""One check end to end and what qualifies it: the pipeline, the oracle's verdict, health
notices, the diagnosis, sweeps and explain. Returns data (``Report``), never prints."""
