"""`datashark generate` and `datashark chat`: run the local engine from the command line.

`generate` streams the continuation of one prompt to stdout (only the generated text), or with
`--json` prints one object: prompt_ids, ids, text, finish_reason, prefill_tok_s, decode_tok_s,
peak_rss_mb. `--chat` wraps the prompt as a user message in the file's chat template. `chat` is an
interactive streaming REPL over the chat template (`/reset` forgets the conversation, `/exit` or
Ctrl-D leaves).

--model takes a cache name (`smollm2`, `gemma3-270m`, an imported name) or a path; the default
model is pulled on first use (datashark.registry). Heavy imports happen inside the commands.
Does not handle: prompt caching between chat turns (each turn prefills the whole conversation).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

DEFAULT_MODEL = "smollm2"


def _load(model: str, threads: int | None) -> Any:
    """Resolve and load a model, or exit with a one-line error."""
    from datashark import registry
    from datashark.engine import ModelFormatError
    from datashark.engine.model import Model

    try:
        path = registry.resolve_model(model)
        return Model.load(path, threads=threads)
    except (registry.ModelNotFoundError, registry.PullError, ModelFormatError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _params(max_tokens: int, temperature: float, seed: int | None, **extra: Any) -> Any:
    from datashark.engine.sampling import SamplingParams, SamplingParamsError

    try:
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed, **extra)
    except SamplingParamsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _encode_chat(model: Any, messages: list[dict[str, str]]) -> list[int]:
    """Render with the file's template; the template writes the BOS text itself when it wants one."""
    tok = model.tokenizer
    text = model.render_chat(messages, add_generation_prompt=True)
    bos = tok.token_text(tok.bos_id) if tok.bos_id is not None else None
    add_bos = False if bos and text.startswith(bos) else None
    return tok.encode(text, add_bos=add_bos, parse_special=True)


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def generate(
    prompt: str = typer.Option(..., "--prompt", "-p", help="Text to continue."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Cache name or GGUF path."),
    max_tokens: int = typer.Option(64, "--max-tokens", "-n", help="Most tokens to generate."),
    temperature: float = typer.Option(0.8, "--temperature", "-t", help="0 = greedy."),
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed (same seed, same text)."),
    top_k: int = typer.Option(0, "--top-k", help="Keep the k most likely tokens (0: off)."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass (1.0: off)."),
    chat: bool = typer.Option(False, "--chat", help="Send the prompt as a user chat message."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    stats: bool = typer.Option(False, "--stats", help="Print speed and memory to stderr."),
    threads: int | None = typer.Option(None, "--threads", help="Kernel threads (default: cores)."),
) -> None:
    """Generate a continuation of PROMPT with the local engine."""
    import json

    from datashark.engine.model import ContextLengthError

    params = _params(max_tokens, temperature, seed, top_k=top_k, top_p=top_p)
    m = _load(model, threads)
    if chat:
        ids = _encode_chat(m, [{"role": "user", "content": prompt}])
    else:
        ids = m.tokenizer.encode(prompt)
    if not ids:
        typer.echo("error: the prompt encodes to no tokens", err=True)
        raise typer.Exit(2)
    try:
        stream = m.generate(ids, params)
    except ContextLengthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out: list[int] = []
    shown = 0
    try:
        for token in stream:
            out.append(token)
            if not as_json and len(stream.text) > shown:
                sys.stdout.write(stream.text[shown:])
                sys.stdout.flush()
                shown = len(stream.text)
    except ContextLengthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        stream.close()
        sys.stdout.write("\n")
        raise typer.Exit(130) from None
    prefill_tok_s = len(ids) / stream.prefill_s if stream.prefill_s > 0 else 0.0
    decode_tok_s = stream.n_decoded / stream.decode_s if stream.decode_s > 0 else 0.0
    if as_json:
        payload = {
            "model": m.name,
            "prompt_ids": ids,
            "ids": out,
            "text": stream.text,
            "finish_reason": stream.finish_reason,
            "prefill_tok_s": round(prefill_tok_s, 2),
            "decode_tok_s": round(decode_tok_s, 2),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    if len(stream.text) > shown:
        sys.stdout.write(stream.text[shown:])
    sys.stdout.write("\n")
    sys.stdout.flush()
    if stats:
        typer.echo(
            f"prompt {len(ids)} tokens, {prefill_tok_s:.1f} tok/s | generated {len(out)} tokens, "
            f"{decode_tok_s:.1f} tok/s | finish {stream.finish_reason} | "
            f"peak RSS {_peak_rss_mb():.0f} MiB",
            err=True,
        )


def chat(
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Cache name or GGUF path."),
    system: str | None = typer.Option(None, "--system", help="System message."),
    max_tokens: int = typer.Option(512, "--max-tokens", "-n", help="Most tokens per answer."),
    temperature: float = typer.Option(0.7, "--temperature", "-t", help="0 = greedy."),
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed."),
    threads: int | None = typer.Option(None, "--threads", help="Kernel threads (default: cores)."),
) -> None:
    """Chat with a model in the terminal; answers stream as they are generated."""
    from datashark.engine.model import ContextLengthError

    params = _params(max_tokens, temperature, seed)
    m = _load(model, threads)
    base: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    messages = list(base)
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo(f"{m.name}: /reset forgets the conversation, /exit or Ctrl-D leaves.")
    while True:
        try:
            line = input("> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            messages = list(base)
            continue
        messages.append({"role": "user", "content": text})
        ids = _encode_chat(m, messages)
        # forget the oldest turns while the conversation and the answer cannot fit
        while len(ids) + max_tokens > m.config.context_length and len(messages) > len(base) + 1:
            del messages[len(base) : len(base) + 2]
            ids = _encode_chat(m, messages)
        stream, shown = m.generate(ids, params), 0
        try:
            for _ in stream:
                if len(stream.text) > shown:
                    sys.stdout.write(stream.text[shown:])
                    sys.stdout.flush()
                    shown = len(stream.text)
        except ContextLengthError as exc:
            typer.echo(f"\nerror: {exc}", err=True)
            messages = list(base)
            continue
        except KeyboardInterrupt:
            stream.close()
        sys.stdout.write(stream.text[shown:] + "\n")
        sys.stdout.flush()
        messages.append({"role": "assistant", "content": stream.text})


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    app.command("generate")(generate)
    app.command("chat")(chat)
