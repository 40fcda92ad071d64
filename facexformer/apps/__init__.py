"""The command lines: ``facexformer`` (LightningCLI and its subcommands), ``infer``, ``export``."""
