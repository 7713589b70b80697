"""Numbered schema migrations of the node database (``NNNN_name.sql``), applied in order by
:mod:`edge.store`; ``PRAGMA user_version`` holds the number of the last one applied."""
