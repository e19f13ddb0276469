"""Training: data pipelines, optimisers, learning-rate schedules and the training loop."""
