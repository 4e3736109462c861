"""Benchmarks: each prints figures; docs/benchmarks.md holds them with the command that produced them."""
