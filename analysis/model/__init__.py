"""The model: a frozen HF seq2seq backbone, the adaptation methods, and checkpoints of their weights."""
