"""DataShark's provider gateway: an ordered chain of model providers behind one call.

`Gateway.complete` tries providers in order (local engine, DeepSeek, OpenAI, Ollama, any
OpenAI-compatible URL, templates) with per-provider timeouts, retries with backoff, a circuit
breaker and metrics, and falls through to the next provider when one fails or when the caller's
validator rejects its output. Only httpx and the standard library are imported here; the local
engine is imported lazily by its adapter, the Roblox layer hands in its template search.

Not handled here: prompting and Luau validation (`datashark.roblox`), HTTP routes (`roblox.api`).
"""
