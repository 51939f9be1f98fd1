"""Background work: the analysis of each upload, in worker processes."""
