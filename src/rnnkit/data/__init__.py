"""Turning files into tensors and vocabularies: readers, vocabularies, batching, datasets."""
