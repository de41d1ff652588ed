"""Extraction: each instance's conditioning embedding and generated parameters, written (writer), read back
torch-free (reader), or computed live for one input (live)."""
