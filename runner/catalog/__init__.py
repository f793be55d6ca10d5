"""The model catalog: models, operations, limits, prices, cost estimates, the refresh cache."""
