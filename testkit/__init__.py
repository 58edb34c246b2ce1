"""Helpers shared by the test suite, the benchmarks (bench/) and tools/: real services,
real server processes, a browser's walk through the code flow. Not part of the wheel
(setuptools packages only keyturn*), and free of pytest so scripts can import it.
"""
