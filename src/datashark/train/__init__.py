"""DataShark's trainer (optional `train` extra: torch, tokenizers, matplotlib).

corpus -> tokenizer -> model (llama-shaped GPT) -> trainer (DDP) -> export to GGUF (+ quantize)
-> evaluate. Nothing outside this package (except `datashark.cli.train`, inside its functions)
imports it, so the engine and server never import torch.
"""
