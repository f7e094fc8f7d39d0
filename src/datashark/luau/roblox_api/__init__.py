"""Luau source of the sandbox's fake Roblox API (data files, loaded by runner.py)."""
