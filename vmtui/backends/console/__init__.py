"""Bytes to whole tagged lines to the ring and the log on disk; console sources."""
