"""Serving features to models.

- Training sets: ``training`` compiles ``fs.get_training_data`` to an ``ASOF LEFT JOIN``, which
  the engine runs with ``asof`` (sides read by DataFusion, pairs found by ``udfs.asof``); the
  entity rows travel as a session temporary table (``tables``).
- The online store: ``online`` (the store interface, the SQLite store, ``open_store`` by URI),
  ``redis_store`` (the Redis store), ``statements`` (MATERIALIZE, SHOW ONLINE STATUS, LOOKUP
  ONLINE: the engine family), ``prepared`` (a lookup resolved once per catalog generation,
  checked and audited per call), ``derived`` (derived features computed at lookup) and
  ``lookup`` (``fs.materialize``, ``fs.get_online_features``).
- ``progress``: tqdm bars for long training sets and materializations.
"""
