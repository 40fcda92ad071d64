"""Measuring speed: hardware description and peaks, FLOP counts, interleaved timing, training and ``infer``."""
