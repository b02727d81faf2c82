"""A plain, non-editable install carries the templates, kiosk files, catalogues and migrations."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = out.glob("hymy-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_every_template_and_kiosk_file(wheel_names):
    for folder, target in (("templates", "server/templates"), ("kiosk", "server/kiosk")):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                name = f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
                assert name in wheel_names, f"{name} is not packaged"


def test_the_wheel_holds_catalogues_and_migrations(wheel_names):
    for path in (ROOT / "server" / "migrations").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert path.relative_to(ROOT).as_posix() in wheel_names
    for path in (ROOT / "server" / "translations").rglob("*.mo"):
        assert path.relative_to(ROOT).as_posix() in wheel_names
    assert "server/cli.py" in wheel_names
