"""pytest-benchmark micro-benchmarks: ``hatch run bench`` (not part of the test suite)."""
