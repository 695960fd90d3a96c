"""The async backend layer. Never imports Textual or Rich: usable headless.

VM types are found by name (vm/contract.py's lookup), not imported here.
"""
