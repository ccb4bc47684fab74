"""Reproducible throughput / scaling measurements, each a ratio against a baseline."""
