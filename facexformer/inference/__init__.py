"""Inference-time components: the MTCNN face detector the released ``inference.py`` uses."""
