"""Textual widgets of vmtui. They never call a backend."""
