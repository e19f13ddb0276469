"""Training as darknet trains: its data files, losses, loop and checkpoints."""
