"""Protocols that run a trained FaceXFormer on a benchmark (face verification)."""
