"""The corpus builder on the fixture corpus (acceptance 1's checks, without the network), the
MinHash deduplicator, the npm cache and .rbxmx extraction. The full npm build is measured in
docs/training.md (`datashark data build`), not here: tests never run `npm pack`."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from datashark.train.corpus import (
    SPLITS,
    BuildOptions,
    Package,
    build,
    fetch,
    load_packages,
    normalise,
    read_split,
    tarball_files,
)
from datashark.train.dedup import minhash, near_duplicates, shingles
from datashark.train.luau_check import compiles


def test_manifest_counts_every_stage(corpus: Path) -> None:
    m = json.loads((corpus / "manifest.json").read_text())
    st = m["stages"]
    # 28 Luau files + 2 scripts inside Models.rbxmx
    assert st["raw"]["files"] == 30
    # KillBrickCopy.lua is KillBrick.lua with CRLF endings: equal after normalising
    assert st["after_exact_dedup"]["files"] == 29
    # SpinnerNear.luau differs from Spinner.luau in one line
    assert st["after_near_dedup"]["files"] == 28
    # Broken.lua does not compile
    assert st["after_compile_check"]["files"] == 27
    assert m["compile_rejected"] == ["local:luau_corpus/src/Broken.lua"]
    assert sum(s["files"] for s in m["splits"].values()) == 27
    assert m["licenses"] == {"Apache-2.0": 27}
    assert all(m["splits"][s]["files"] > 0 for s in SPLITS)


def test_splits_are_disjoint_compiling_and_normalised(corpus: Path) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for rec in read_split(corpus, split):
            assert rec["sha256"] not in seen, f"{rec['path']} in {split} and {seen[rec['sha256']]}"
            seen[rec["sha256"]] = split
            assert "\r" not in rec["text"]
            assert compiles(rec["text"]), rec["path"]
            assert rec["license"] == "Apache-2.0" and rec["package"] == "local:luau_corpus"
    paths = {r["path"] for s in SPLITS for r in read_split(corpus, s)}
    assert "Models.rbxmx#DayNight" in paths and "Models.rbxmx#Palette" in paths
    assert not any(p.endswith(("KillBrickCopy.lua", "SpinnerNear.luau")) for p in paths)


def test_build_is_deterministic(corpus: Path, fixture_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build(
        BuildOptions(
            out=again, local_dirs=(fixture_dir,), use_npm=False, split_percent=(60, 20, 20),
            progress=False,
        )
    )  # fmt: skip
    for split in SPLITS:
        assert (again / f"{split}.jsonl").read_bytes() == (corpus / f"{split}.jsonl").read_bytes()


def test_normalise_line_endings() -> None:
    assert normalise("\ufeffa\r\nb\rc\n\n\n") == "a\nb\nc\n"
    assert normalise("  \r\n ") == ""


def test_minhash_agreement_estimates_jaccard() -> None:
    # two sets with Jaccard 0.5: the share of equal signature slots must estimate it
    a_set, b_set = set(range(0, 3000)), set(range(1000, 4000))
    rng = np.random.default_rng(0)
    a = rng.integers(1, 4294967291, size=512, dtype=np.uint64)
    b = rng.integers(0, 4294967291, size=512, dtype=np.uint64)
    agree = float((minhash(a_set, a, b) == minhash(b_set, a, b)).mean())
    assert abs(agree - 0.5) < 0.08


def test_near_duplicates_keep_first_and_spare_distinct_files(fixture_dir: Path) -> None:
    src = fixture_dir / "src"
    spinner = (src / "Spinner.luau").read_text()
    near = (src / "SpinnerNear.luau").read_text()
    other = (src / "Inventory.lua").read_text()
    assert len(shingles(spinner) & shingles(near)) / len(shingles(spinner) | shingles(near)) > 0.8
    assert near_duplicates([spinner, other, near]) == [2]
    assert near_duplicates([other, spinner]) == []


def _tarball(tmp: Path, pkg: Package, files: dict[str, str]) -> Path:
    path = tmp / pkg.tarball_name
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tarball_extraction_and_cache_without_npm(
    tmp_path: Path, fixture_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = Package("@rbxts/example", "1.2.3")
    rbxmx = (fixture_dir / "Models.rbxmx").read_text()
    _tarball(
        tmp_path,
        pkg,
        {
            "package.json": json.dumps({"name": pkg.name, "licenses": [{"type": "Apache 2.0"}]}),
            "src/init.lua": "return 1\r\n",
            "src/types.d.ts": "export {}",
            "models/lights.rbxmx": rbxmx,
        },
    )
    # The cache answers: with no npm on PATH a re-run still finds the tarball.
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    tgz = fetch(pkg, tmp_path)
    files = tarball_files(tgz, pkg)
    assert [f.path for f in files] == [
        "models/lights.rbxmx#DayNight",
        "models/lights.rbxmx#Palette",
        "src/init.lua",
    ]
    assert {f.license for f in files} == {"Apache-2.0"}
    assert files[2].text == "return 1\n"
    with pytest.raises((RuntimeError, FileNotFoundError)):
        fetch(Package("@rbxts/not-cached", "0.0.1"), tmp_path)


def test_package_list() -> None:
    pkgs = load_packages()
    assert len(pkgs) >= 44
    assert len({p.name for p in pkgs}) == len(pkgs)
    assert all(p.name.startswith(("@rbxts/", "@rbxts-js/")) or p.name == "roblox-ts" for p in pkgs)
    assert all(p.version and p.version[0].isdigit() for p in pkgs)
    names = {p.name for p in pkgs}
    assert {"@rbxts/react-vendor", "@rbxts-js/react-reconciler", "roblox-ts"} <= names
