"""Storage: fsspec locations, archive discovery, zarr frames, parquet metrics, video I/O."""
