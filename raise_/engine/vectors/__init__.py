"""Vector similarity search: exact streaming top-k and HNSW indexes over embedding features.

``shape`` recognises a top-k query, ``topk`` answers it exactly, ``index`` keeps the HNSW
indexes and answers from them, ``runner`` chooses between the two, and ``family`` declares the
``VECTOR INDEX`` statements to the engine.
"""
