"""Detection quality on labelled captions, weight calibration and ROC plots."""
