"""HyperLens analysis backend: hypernetwork adapters on HF encoder-decoders, and the tools to look inside them."""

__version__ = "0.1.0"
