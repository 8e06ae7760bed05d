"""edgelab.dataset."""
