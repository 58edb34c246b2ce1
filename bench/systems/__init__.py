"""One module per system the benchmark measures; each returns table Rows.

The peers' own server code is in bench/peers/ (run from there, in the peers' venv).
"""
