"""The bias and slice report (defined in ml_core.slices, next to the evaluation that uses it)."""
from ..slices import (
    LENGTH_BUCKETS,
    LENGTH_COLUMN,
    SliceSettings,
    length_bucket,
    slice_report,
    wilson_interval,
)

__all__ = ["LENGTH_BUCKETS", "LENGTH_COLUMN", "SliceSettings", "length_bucket", "slice_report", "wilson_interval"]
