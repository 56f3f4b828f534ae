"""Turning files into tensors and vocabularies: readers, vocabularies, batching, datasets.

Modules (imported on use; nothing is loaded by ``import rnnkit.data``):

* ``vocab``: :class:`~rnnkit.data.vocab.Vocabulary`, char or word level, with specials.
* ``text``: :func:`~rnnkit.data.text.read_text` and streamed pieces of UTF-8 corpora.
* ``tables``: labelled texts from CSV / TSV / JSONL; ``conllu``: tagged sentences;
  ``series``: numeric series CSV and forecasting windows.
* ``batching``: :class:`~rnnkit.data.batching.Batch`, the batch-source protocol,
  :class:`~rnnkit.data.batching.StreamBatches` (truncated BPTT) and
  :class:`~rnnkit.data.batching.PaddedBatches` (variable lengths, bucketing).
* ``memmap``: token files encoded once and memory-mapped, for corpora larger than memory.
* ``registry``, ``download``, ``describe``: named datasets with digests, the verified cache,
  and what a file is.
"""
