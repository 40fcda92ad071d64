"""Command-line arguments shared by tests that run ``facexformer`` commands: a tiny, untrained model."""

TINY_MODEL = [
    "--model.backbone",
    "test_convnext",
    "--model.backbone_pretrained",
    "false",
    "--model.image_size",
    "64",
    "--model.dim",
    "32",
    "--model.decoder_mlp_dim",
    "64",
]
