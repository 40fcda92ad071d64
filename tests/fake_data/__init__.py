"""Fake benchmark data in each benchmark's downloaded layout (one generator per benchmark), so that
``facexformer evaluate`` runs on every benchmark in CI in seconds. Each ``write(root, ...)`` returns ``root``."""
