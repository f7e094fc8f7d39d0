"""DataShark's OpenAI-compatible server: FastAPI routes over the engine with a continuous
batching scheduler. Entry point: `datashark.server.app.create_app(settings)`; the CLI command is
`datashark serve`. Importing this package never imports torch."""
