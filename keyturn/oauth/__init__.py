"""The protocol core: grants, token formats, errors and policies.

Nothing here imports the HTTP layer or a database driver; every function takes
plain values, a `Store` and a `Clock`.
"""
