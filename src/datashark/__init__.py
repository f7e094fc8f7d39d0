"""DataShark: a self-hostable AI coding assistant for Roblox Studio.

Layers (see docs/architecture in shared/ARCHITECTURE.md): `engine` (GGUF inference, no torch),
`native` (C kernels), `server` (OpenAI-compatible API), `gateway` (provider chain), `roblox`
(/api/generate flow), `luau` (compile check and sandbox), `train` (torch, optional), `cli`.
Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
