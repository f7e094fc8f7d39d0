"""Provider adapters: `openai_compatible` (DeepSeek, OpenAI, Ollama, vLLM, llama.cpp server,
another DataShark), `local` (our engine in process) and `templates` (retrieval, no model).
`factory.build_providers` turns settings into adapter instances."""
