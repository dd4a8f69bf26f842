"""Serving features to models.

- Training sets: ``training`` compiles ``fs.get_training_data`` to an ``ASOF LEFT JOIN``, which
  the engine runs with ``asof`` (sides read by DataFusion, pairs found by ``udfs.asof``); the
  entity rows travel as a session temporary table (``tables``).
- The online store: ``online`` (the SQLite store), ``statements`` (MATERIALIZE, SHOW ONLINE
  STATUS, LOOKUP ONLINE: the engine family) and ``lookup`` (``fs.materialize``,
  ``fs.get_online_features``).
"""
