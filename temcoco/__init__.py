"""temcoco: temporally consistent infrared + visible video fusion at archive scale."""

__version__ = "0.1.0"
PIPELINE_VERSION = "2"  # bump when ingest, pairing, fusion or encoding semantics change: --incremental redoes every clip
