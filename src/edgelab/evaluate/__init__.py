"""edgelab.evaluate."""
