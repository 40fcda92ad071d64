"""Training-level pieces that plug into Lightning's Trainer (fine-tuning callbacks)."""
