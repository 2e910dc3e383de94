"""Perception: RGB-D segmentation, object slots and slot tracking."""
