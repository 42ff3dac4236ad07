"""Data: the synthetic MVTec look-alike, loaders for real layouts, transforms and splits."""
