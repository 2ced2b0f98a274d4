"""Benchmarks (`make bench`): each bench/<name>.py has a main() that prints its figures and
writes bench/results/<name>.json. Not timed tests."""
