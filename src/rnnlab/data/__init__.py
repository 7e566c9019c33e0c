"""Data stages: download, parse, prepare."""
