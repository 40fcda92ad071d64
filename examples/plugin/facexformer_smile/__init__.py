"""An example facexformer plugin: the ``smiling`` task, the ``TinyConv`` backbone and the ``SmileCSV`` reader
(declared in pyproject.toml)."""
