"""edgelab.report."""
