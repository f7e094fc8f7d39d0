"""Build the Luau training corpus: npm packages and local folders -> deduplicated, compiling,
licence-tagged files split by file into train/val/test.

Where the data comes from: Roblox Luau source shipped inside npm packages (`@rbxts/*`,
`@rbxts-js/*`, `roblox-ts`), listed with pinned versions in `luau_packages.toml`. Each package is
fetched once with `npm pack NAME@VERSION` into a cache (`~/.cache/datashark/npm`, or
`$DATASHARK_NPM_CACHE`); re-runs read the cached tarballs. From each tarball (or local folder) we
take `.lua`/`.luau` files and the `Source` strings of scripts inside `.rbxmx` models, with the
licence from the package's `package.json`.

Pipeline (whole files, before splitting, so no file or near copy lands in two splits):
normalise line endings -> drop empty files -> exact dedup (sha256) -> near dedup (MinHash over line
shingles, `dedup.py`) -> keep files the Luau compiler accepts -> split by content hash (90/5/5).
Output: `train.jsonl`, `val.jsonl`, `test.jsonl` (one record per file: id, package, version, path,
license, bytes, sha256, text) and `manifest.json` (counts and bytes at every stage, files, bytes
and licences per split).

What it does not handle: licence files other than package.json's `license` field (a folder
without one records "unknown"); Luau type checking (only compiling is checked).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from tqdm import tqdm

from datashark.train.dedup import near_duplicates
from datashark.train.luau_check import compiles

SPLITS = ("train", "val", "test")
LUAU_SUFFIXES = (".lua", ".luau")


@dataclass(frozen=True)
class Package:
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        # npm pack's file name: scope without "@", "/" -> "-".
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


@dataclass
class SourceFile:
    package: str
    version: str
    path: str
    license: str
    text: str
    sha256: str = field(default="")

    def __post_init__(self) -> None:
        self.text = normalise(self.text)
        self.sha256 = hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def nbytes(self) -> int:
        return len(self.text.encode("utf-8"))


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    local_dirs: tuple[Path, ...] = ()
    use_npm: bool = True
    packages_file: Path | None = None
    cache_dir: Path | None = None
    near_threshold: float = 0.8
    split_percent: tuple[int, int, int] = (90, 5, 5)
    progress: bool = True


def normalise(text: str) -> str:
    """CRLF and CR -> LF, no BOM, exactly one trailing newline."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip("\n") + "\n" if text.strip() else ""


def load_packages(path: Path | None = None) -> list[Package]:
    """The package list (`[[package]] name, version`) from `luau_packages.toml` or `path`."""
    if path is None:
        raw = resources.files("datashark.train").joinpath("luau_packages.toml").read_bytes()
    else:
        raw = Path(path).read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    return [Package(p["name"], str(p["version"])) for p in data["package"]]


def npm_cache_dir() -> Path:
    env = os.environ.get("DATASHARK_NPM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "datashark" / "npm"


def fetch(pkg: Package, cache: Path) -> Path:
    """The package tarball in `cache`, running `npm pack` only when it is not there yet."""
    target = cache / pkg.tarball_name
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["npm", "pack", pkg.spec, "--silent", "--pack-destination", str(cache)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 or not target.exists():
        raise RuntimeError(f"npm pack {pkg.spec} failed: {proc.stderr.strip()[-500:]}")
    return target


def rbxmx_sources(xml_text: str) -> Iterator[tuple[str, str]]:
    """(script name, Source) of every script Item in an .rbxmx model file."""
    root = ET.fromstring(xml_text)
    for item in root.iter("Item"):
        props = item.find("Properties")
        if props is None:
            continue
        source = name = None
        for prop in props:
            if prop.get("name") == "Source":
                source = prop.text or ""
            elif prop.get("name") == "Name":
                name = prop.text or ""
        if source is not None:
            yield f"{name or item.get('class', 'Script')}", source


def _files_from_entries(
    entries: Iterator[tuple[str, Callable[[], bytes]]], package: str, version: str, license: str
) -> Iterator[SourceFile]:
    for path, read in entries:
        if path.endswith(LUAU_SUFFIXES):
            text = read().decode("utf-8", errors="replace")
            yield SourceFile(package, version, path, license, text)
        elif path.endswith(".rbxmx"):
            try:
                scripts = list(rbxmx_sources(read().decode("utf-8", errors="replace")))
            except ET.ParseError:
                continue
            counts: Counter[str] = Counter()
            for name, source in scripts:
                counts[name] += 1
                suffix = f"#{name}" + (f"~{counts[name]}" if counts[name] > 1 else "")
                yield SourceFile(package, version, path + suffix, license, source)


def tarball_files(tgz: Path, pkg: Package) -> list[SourceFile]:
    """Luau files and .rbxmx script sources inside an npm tarball, with its licence."""
    with tarfile.open(tgz, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        license = "unknown"
        meta = members.get("package/package.json")
        if meta is not None:
            f = tar.extractfile(meta)
            license = _license_of(json.loads(f.read().decode("utf-8")) if f else {})
        entries = (
            (name.removeprefix("package/"), _reader(tar, m)) for name, m in sorted(members.items())
        )
        return list(_files_from_entries(entries, pkg.name, pkg.version, license))


def _reader(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        f = tar.extractfile(member)
        return f.read() if f else b""

    return read


_SPDX = {"Apache 2.0": "Apache-2.0", "Apache License 2.0": "Apache-2.0", "MIT License": "MIT"}


def _license_of(meta: dict) -> str:
    """SPDX id from package.json's `license`, or the legacy `licenses` list."""
    lic = meta.get("license")
    if lic is None and meta.get("licenses"):
        lic = meta["licenses"][0]
    if isinstance(lic, dict):
        lic = lic.get("type")
    lic = str(lic or "unknown").strip()
    return _SPDX.get(lic, lic)


def folder_files(root: Path) -> list[SourceFile]:
    """Luau files under a local folder; licence from its package.json when there is one."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist")
    license = "unknown"
    meta = root / "package.json"
    if meta.exists():
        license = _license_of(json.loads(meta.read_text()))
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    entries = ((str(p.relative_to(root)), p.read_bytes) for p in paths)
    return list(_files_from_entries(entries, f"local:{root.name}", "", license))


def split_of(sha256: str, percent: tuple[int, int, int] = (90, 5, 5)) -> str:
    """Deterministic split of a file from its content hash."""
    bucket = int(sha256[:8], 16) % sum(percent)
    if bucket < percent[0]:
        return "train"
    return "val" if bucket < percent[0] + percent[1] else "test"


def _stage(files: list[SourceFile]) -> dict[str, int]:
    return {"files": len(files), "bytes": sum(f.nbytes for f in files)}


def build(opts: BuildOptions) -> dict:
    """Build the corpus into `opts.out`; returns the manifest (also written as manifest.json)."""
    files: list[SourceFile] = []
    sources: list[str] = []
    if opts.use_npm:
        cache = opts.cache_dir or npm_cache_dir()
        pkgs = load_packages(opts.packages_file)
        for pkg in tqdm(pkgs, desc="npm packages", unit="pkg", disable=not opts.progress):
            found = tarball_files(fetch(pkg, cache), pkg)
            files.extend(found)
            sources.append(pkg.spec)
    for folder in opts.local_dirs:
        files.extend(folder_files(folder))
        sources.append(str(folder))

    raw = _stage(files)
    files = [f for f in files if f.text]
    seen: set[str] = set()
    unique: list[SourceFile] = []
    for f in files:
        if f.sha256 not in seen:
            seen.add(f.sha256)
            unique.append(f)
    exact = _stage(unique)
    drop = set(near_duplicates([f.text for f in unique], threshold=opts.near_threshold))
    distinct = [f for i, f in enumerate(unique) if i not in drop]
    near = _stage(distinct)
    kept: list[SourceFile] = []
    rejected: list[str] = []
    for f in tqdm(distinct, desc="compile check", unit="file", disable=not opts.progress):
        if compiles(f.text, f.path):
            kept.append(f)
        else:
            rejected.append(f"{f.package}/{f.path}")

    opts.out.mkdir(parents=True, exist_ok=True)
    by_split: dict[str, list[SourceFile]] = {s: [] for s in SPLITS}
    for f in kept:
        by_split[split_of(f.sha256, opts.split_percent)].append(f)
    splits = {}
    for name, items in by_split.items():
        with open(opts.out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for f in items:
                record = asdict(f) | {"id": f.sha256[:16], "bytes": f.nbytes}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        splits[name] = _stage(items) | {
            "licenses": dict(Counter(f.license for f in items).most_common()),
            "packages": len({f.package for f in items}),
        }
    manifest = {
        "sources": sources,
        "packages": len({f.package for f in kept}),
        "stages": {
            "raw": raw,
            "after_exact_dedup": exact,
            "after_near_dedup": near,
            "after_compile_check": _stage(kept),
        },
        "near_dup_threshold": opts.near_threshold,
        "compile_rejected": rejected,
        "splits": splits,
        "licenses": dict(Counter(f.license for f in kept).most_common()),
        "split_percent": list(opts.split_percent),
    }
    (opts.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_split(data_dir: Path, split: str) -> list[dict]:
    """The records of one split of a built corpus."""
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: build the corpus with `datashark data build`")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
