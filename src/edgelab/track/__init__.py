"""edgelab.track."""
