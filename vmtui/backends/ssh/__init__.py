"""Reaching a guest over SSH: waiting for it, sessions, commands, copies, forwards."""
