"""The frame the sync steps run in: phases, list scans, checkpoints, time budget."""
