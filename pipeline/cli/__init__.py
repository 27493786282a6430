"""The `adtech` console script (main), its cleanup and status commands, and `make demo`."""
