"""PySceneDetect declares `opencv-python`, which shares the `cv2` folder with `opencv-python-headless`:
installing both breaks `import cv2`. setup.sh installs scenedetect with --no-deps; this proves that only
the headless OpenCV is installed, that `cv2` is its copy, and that scenedetect imports on top of it."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest


def test_only_headless_opencv_is_installed_and_cv2_is_its_copy():
    headless = md.distribution("opencv-python-headless")
    for other in ("opencv-python", "opencv-contrib-python"):
        with pytest.raises(md.PackageNotFoundError):
            md.distribution(other)
    import cv2

    owned = {str(Path(f)) for f in headless.files or []}
    assert str(Path("cv2") / "__init__.py") in owned
    assert Path(cv2.__file__).resolve() == Path(headless.locate_file("cv2/__init__.py")).resolve()
    assert cv2.imencode(".png", __import__("numpy").zeros((4, 4, 3), "uint8"))[0]  # the native part loads


def test_scenedetect_imports_on_headless_opencv():
    scenedetect = pytest.importorskip("scenedetect")
    from scenedetect import AdaptiveDetector, ContentDetector  # noqa: F401

    assert scenedetect.__version__ == "0.7.2"
    requires = md.requires("scenedetect") or []
    assert any(r.startswith("opencv-python") for r in requires)  # declared, deliberately not installed
