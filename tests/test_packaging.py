"""kaowu installed from its wheel (`pip install .`, not editable) runs: no module or data left out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, unpacked as pip would lay it out."""
    # Built from a copy of the files git would commit: a checkout's own build/ keeps files
    # from earlier builds, which would hide a module the package list leaves out.
    source = tmp_path_factory.mktemp("source")
    for name in _files("-co", "--exclude-standard"):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("kaowu-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def _files(*args: str) -> list[str]:
    listed = subprocess.run(
        ["git", "-c", "core.quotepath=off", "ls-files", "-z", *args],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [name for name in listed.stdout.split("\0") if name]


# The checkout's editable install adds a finder that would find a module the wheel lacks;
# it goes, so only the unpacked wheel (first on the path) and the dependencies remain.
_ONLY_THE_WHEEL = (
    "import runpy, sys\n"
    "sys.meta_path[:] = [f for f in sys.meta_path"
    " if not getattr(f, '__module__', '').startswith('__editable__')]\n"
)


def _run(site: Path, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "KAOWU_DATA_DIR": str(cwd / "data")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-c", _ONLY_THE_WHEEL + code],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _kaowu(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"sys.argv = ['kaowu', *{list(args)!r}]\nrunpy.run_module('bot.cli', run_name='__main__')"
    )
    return _run(site, cwd, code)


def test_the_wheel_holds_every_module_and_data_file_of_the_checkout(installed: Path) -> None:
    listed = _files("bot", "ingest", "knowledge", "prompts", "web")
    missing = [name for name in listed if not (installed / name).is_file()]
    assert listed and not missing


def test_the_installed_kaowu_answers_from_its_handbook_and_opens_its_database(
    installed: Path, tmp_path: Path
) -> None:
    where = _run(installed, tmp_path, "import bot.store.db, knowledge; print(knowledge.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(installed))

    ingest = _kaowu(installed, tmp_path, "ingest", "-q")
    assert ingest.returncode == 0, ingest.stderr
    asked = _kaowu(installed, tmp_path, "ask", "保密室值班每班至少要几个人？")
    assert asked.returncode == 0, asked.stderr
    assert "[1]" in asked.stdout and "来源：" in asked.stdout

    # The reports commands open the SQLite database, which runs the bundled migrations.
    status = _kaowu(installed, tmp_path, "reports", "status")
    assert status.returncode == 0, status.stderr
    assert (tmp_path / "data").is_dir()
