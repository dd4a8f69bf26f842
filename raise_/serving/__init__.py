"""Serving features to models: point-in-time correct training sets and the as-of join behind
them (``asof``, ``training``), and the session's temporary tables that carry entity rows
(``tables``).
"""
