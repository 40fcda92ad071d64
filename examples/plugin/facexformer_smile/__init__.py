"""An example facexformer plugin: the ``smiling`` task and the ``SmileCSV`` reader (declared in pyproject.toml)."""
