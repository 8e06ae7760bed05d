"""Market data: the Bars contract, validation, readers, resampling, the Parquet store and sources."""
