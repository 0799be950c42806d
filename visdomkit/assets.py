"""Visdom's dashboard files (JavaScript, CSS, fonts), installed without touching a CDN.

At start, ``visdom.server`` downloads the dashboard's scripts from several CDNs (see
``visdom/server/build.py``); offline, the MathJax fetch raises and the server dies. Every one of
those files is published on the npm registry at the same version, so we fetch them with the
``npm`` client (which brings its own registry configuration, proxy and cache: no host name lives
in this module) or from a bundle made on another machine, then write ``static/version.built`` so
visdom considers itself built and never downloads.

What visdom wants is not hard-coded here: :func:`wanted_files` runs the installed visdom's own
``download_scripts`` against a recording stand-in for the network, so the list always matches the
installed version (0.2.4 and 0.3.0 differ).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
from collections.abc import Iterable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

log = logging.getLogger("visdomkit")

MANIFEST_NAME = "visdomkit-assets.json"
BUNDLE_MANIFEST = "manifest.json"
INSTALL_HINT = "python -m visdomkit assets install"


class AssetError(RuntimeError):
    """The dashboard files could not be installed or verified."""


@dataclass(frozen=True)
class Asset:
    """One file visdom's ``build.py`` wants.

    Attributes:
        url: where visdom would download it from.
        dest: path relative to visdom's install dir (``static/js/...``).
        package: npm package name.
        version: npm version or range (``3`` resolves to the newest 3.x, like the CDN did).
        path: file inside the npm package; ``None`` means the package's ``main`` file.
    """

    url: str
    dest: str
    package: str
    version: str
    path: str | None


def visdom_dir() -> Path:
    """The installed visdom package's folder (its ``static/`` lives inside)."""
    from visdom.utils.shared_utils import get_visdom_path

    return Path(get_visdom_path())


def visdom_version() -> str:
    import visdom

    return visdom.__version__


# --- what visdom wants ---------------------------------------------------------------------


def _record_download_scripts() -> dict[str, str]:
    """Run visdom's ``download_scripts`` with a recording network; return ``{dest: url}``."""
    from visdom.server import build

    class _Response:
        def __init__(self, url: str) -> None:
            self.content = url.encode()

        def read(self) -> bytes:
            return self.content

    class _Opener:
        def open(self, req, *args, **kwargs):
            return _Response(getattr(req, "full_url", req))

    with tempfile.TemporaryDirectory() as tmp:
        with (
            mock.patch.object(build.request, "build_opener", lambda *a: _Opener()),
            mock.patch.object(build.request, "install_opener", lambda *a: None),
            mock.patch("requests.get", lambda url, *a, **k: _Response(url)),
            redirect_stdout(io.StringIO()),
        ):
            build.download_scripts(install_dir=tmp)
        wanted = {}
        for file in Path(tmp).rglob("*"):
            rel = file.relative_to(tmp).as_posix()
            if file.is_file() and rel != "static/version.built":
                wanted[rel] = file.read_text()  # each stand-in file holds its own URL
        return wanted


# URL paths that are not ``/package@version/file`` name their npm package by file name instead.
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/plotly-(?P<v>[\d.]+)\.min\.js$"), "plotly.js-dist-min@{v}:plotly.min.js"),
    (re.compile(r"/d3\.v(?P<v>\d+)\.min\.js$"), "d3@{v}:d3.min.js"),
    (
        re.compile(r"/d3-selection-multi\.v(?P<v>\d+)\.js$"),
        "d3-selection-multi@{v}:build/d3-selection-multi.js",
    ),
    (re.compile(r"/mathjax/(?P<v>\d[\w.]*)/(?P<p>.+)$"), "mathjax@{v}:{p}"),
]
_NPM_PATH = re.compile(r"^/(?P<pkg>(?:@[^/@]+/)?[^/@]+)@(?P<v>[^/]+)(?:/(?P<p>.+))?$")


def _to_npm(url: str, dest: str) -> Asset:
    path = urllib.parse.urlsplit(url).path
    m = _NPM_PATH.match(path)
    if m:
        return Asset(url, dest, m["pkg"], m["v"], m["p"])
    for pattern, template in _RULES:
        m = pattern.search(path)
        if m:
            spec, inner = template.format(**m.groupdict()).split(":", 1)
            package, version = spec.rsplit("@", 1)
            return Asset(url, dest, package, version, inner)
    raise AssetError(f"don't know which npm package provides {url} (wanted as {dest})")


def wanted_files() -> list[Asset]:
    """Every file the installed visdom's ``build.py`` would download, mapped to npm."""
    return [_to_npm(url, dest) for dest, url in sorted(_record_download_scripts().items())]


def page_references() -> list[str]:
    """Static files the dashboard page itself loads (``static_url(...)`` in index.html)."""
    html = (visdom_dir() / "static" / "index.html").read_text()
    refs = re.findall(r"static_url\(\s*['\"]([^'\"]+)['\"]\s*\)", html)
    return [f"static/{r}" for r in refs if not r.startswith("../")]


# --- checking an install -----------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_files(install_dir: Path | None = None) -> list[str]:
    """Files the dashboard needs that are absent or empty (``[]`` means it will render)."""
    root = Path(install_dir) if install_dir else visdom_dir()
    needed = {a.dest for a in wanted_files()} | set(page_references())
    return sorted(d for d in needed if not _nonempty(root / d))


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def verify(install_dir: Path | None = None) -> list[str]:
    """Problems with the installed files: missing ones, checksum mismatches, stale build mark."""
    root = Path(install_dir) if install_dir else visdom_dir()
    problems = [f"missing: {d}" for d in missing_files(root)]
    manifest = root / "static" / MANIFEST_NAME
    if not manifest.is_file():
        problems.append(f"no {MANIFEST_NAME} (not installed by visdomkit)")
    else:
        recorded = json.loads(manifest.read_text())["files"]
        for dest, digest in recorded.items():
            file = root / dest
            if file.is_file() and _sha256(file) != digest:
                problems.append(f"checksum mismatch: {dest}")
    built = root / "static" / "version.built"
    if not built.is_file() or built.read_text().strip() != visdom_version():
        problems.append("static/version.built does not name the installed visdom version")
    return problems


# --- installing ----------------------------------------------------------------------------


def _npm_pack(specs: Iterable[str], into: Path) -> dict[str, Path]:
    """Fetch package tarballs with ``npm pack``; return ``{spec: tarball}``."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "the npm client is not installed, so the dashboard files cannot be fetched; "
            "install Node.js/npm, or install from a bundle: "
            "python -m visdomkit assets install --bundle FILE"
        )
    specs = sorted(set(specs))
    proc = subprocess.run(
        [npm, "pack", "--json", "--pack-destination", str(into), *specs],
        cwd=into,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise AssetError("npm pack failed:\n  " + "\n  ".join(tail))
    results = json.loads(proc.stdout)
    return {spec: into / r["filename"] for spec, r in zip(specs, results, strict=True)}


def _read_from_tarball(tarball: Path, inner: str | None) -> bytes:
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        prefix = names[0].split("/", 1)[0]  # almost always "package"
        if inner is None:
            meta = json.load(tar.extractfile(f"{prefix}/package.json"))
            inner = meta.get("main") or "index.js"
            if not inner.endswith(".js") and f"{prefix}/{inner}.js" in names:
                inner += ".js"
        inner = inner.removeprefix("./")
        member = tar.extractfile(f"{prefix}/{inner}")
        if member is None:
            raise AssetError(f"{tarball.name} has no file {inner}")
        return member.read()


def _write_install(contents: dict[str, bytes], root: Path) -> None:
    """Write files, the manifest and the build mark into visdom's install dir."""
    digests = {}
    for dest, data in sorted(contents.items()):
        for name in _names_for(dest):
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            digests[name] = hashlib.sha256(data).hexdigest()
    static = root / "static"
    manifest = {"visdom": visdom_version(), "files": digests}
    (static / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (static / "version.built").write_text(visdom_version())


def _names_for(dest: str) -> list[str]:
    # build.py stores the Glyphicons SVG under a name with "#fragment" (that is what it checks),
    # while the browser requests the name without it.
    names = [dest]
    if "#" in dest:
        names.append(dest.split("#", 1)[0])
    # The page loads js/layout_bin_packer.js; some visdom versions store it under fonts/.
    if dest.endswith("fonts/layout_bin_packer.js"):
        names.append(dest.replace("fonts/", "js/"))
    return names


def fetch_from_npm(assets: list[Asset]) -> dict[str, bytes]:
    """Every wanted file's bytes, from npm package tarballs."""
    with tempfile.TemporaryDirectory(prefix="visdomkit-npm-") as tmp:
        specs = {f"{a.package}@{a.version}" for a in assets}
        tarballs = _npm_pack(specs, Path(tmp))
        return {
            a.dest: _read_from_tarball(tarballs[f"{a.package}@{a.version}"], a.path) for a in assets
        }


def install(bundle: str | Path | None = None, *, force: bool = False) -> list[str]:
    """Install the dashboard files into visdom's static folder.

    Args:
        bundle: a ``.tar.gz`` written by :func:`make_bundle`; ``None`` fetches with ``npm``.
        force: reinstall even when the current install verifies.

    Returns:
        The files written (empty when everything was already in place).

    Raises:
        AssetError: npm is missing or failed, the bundle is for another visdom version or is
            corrupt, or the result does not verify.

    Example:
        >>> from visdomkit import assets
        >>> assets.install()  # doctest: +SKIP
    """
    root = visdom_dir()
    if not force and not verify(root):
        log.info("visdom dashboard files already installed and verified")
        return []
    wanted = wanted_files()
    contents = read_bundle(bundle) if bundle else fetch_from_npm(wanted)
    absent = sorted({a.dest for a in wanted} - set(contents))
    if absent:
        raise AssetError(f"bundle lacks {len(absent)} files, e.g. {absent[0]}")
    _write_install(contents, root)
    problems = verify(root)
    if problems:
        raise AssetError("installed files do not verify: " + "; ".join(problems))
    log.info("installed %d visdom dashboard files into %s", len(contents), root / "static")
    return sorted(contents)


def make_bundle(out: str | Path) -> Path:
    """Write the dashboard files to a ``.tar.gz`` for hosts with no registry access.

    The files come from the current install when it verifies, else from npm.
    """
    root = visdom_dir()
    wanted = wanted_files()
    if verify(root):
        contents = fetch_from_npm(wanted)
    else:
        contents = {a.dest: (root / a.dest).read_bytes() for a in wanted}
    out = Path(out)
    manifest = {
        "visdom": visdom_version(),
        "files": {d: hashlib.sha256(b).hexdigest() for d, b in contents.items()},
    }
    with tarfile.open(out, "w:gz") as tar:
        _add_bytes(tar, BUNDLE_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
        for dest, data in sorted(contents.items()):
            _add_bytes(tar, dest, data)
    return out


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def read_bundle(path: str | Path) -> dict[str, bytes]:
    """The files of a bundle, checked against its manifest and the installed visdom version."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"bundle not found: {path}")
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile(BUNDLE_MANIFEST))
        if manifest["visdom"] != visdom_version():
            raise AssetError(
                f"bundle {path} is for visdom {manifest['visdom']}, installed is {visdom_version()}"
            )
        contents = {}
        for dest, digest in manifest["files"].items():
            data = tar.extractfile(dest).read()
            if hashlib.sha256(data).hexdigest() != digest:
                raise AssetError(f"bundle {path}: checksum mismatch for {dest}")
            contents[dest] = data
    return contents
