"""Time to alert through the whole service under background load, an alert storm and a district's registry
(`python -m bench.latency --help`)."""
