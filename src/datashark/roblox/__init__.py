"""The Roblox backend: `POST /api/generate` turns a Studio request into validated Luau scripts.

Flow (`flow.py`): validate the request (`protocol.py`) -> maybe ask clarifying questions
(`clarifier.py`) -> build the prompt with the user's context and the closest templates
(`prompts.py`) -> the provider gateway (`datashark.gateway`) -> parse scripts from the reply
(`extract.py`) -> compile and sandbox them (`validate.py`) -> answer, or fall back to the next
provider. `api.py` holds the FastAPI router that `datashark.server.app` mounts.
`templates/` (hand-written scripts with behaviour checks) belongs to the sandbox work.
"""
