"""Template files: <id>.luau + <id>.toml (data, loaded by templates.py)."""
