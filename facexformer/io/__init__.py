"""Reading and writing files: image decoding (``facexformer.io.image``)."""
