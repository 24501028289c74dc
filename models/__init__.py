"""Biomechanics and generative models: metrics, rep segmentation, muscle activations (biomech), synthetic training data (synth)."""
