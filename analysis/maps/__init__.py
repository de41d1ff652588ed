"""Maps of an extraction (projection), neighbours, cluster quality with baselines, exports and model cards."""
