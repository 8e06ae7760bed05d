"""edgelab.models."""
