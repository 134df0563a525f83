"""Fetching dataset files: mirrors tried in order, streamed to a temporary file beside the target,
checksum-verified (MD5 or SHA-256), then renamed into place, so an interrupted or corrupted
download never leaves a file that looks complete.

Mirrors: the dataset's published list, replaced by the ``mirrors=`` argument or by the
``CLNET_DATA_MIRRORS`` environment variable (base URLs separated by commas or spaces; file names
are appended). Checksums: the published ones, replaced per file name by ``checksums=``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Sequence, Tuple
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile

if TYPE_CHECKING:
    from ..types import PathLike

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["DatasetNotFoundError", "DownloadError", "download_file", "download_resources"]

TIMEOUT_S = 60
_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk; the message lists the folders searched and the ways
    to get the files."""

    def __init__(self, name: str, files: Sequence[str], searched: Sequence[str],
                 download_dir: str, debian_package: Optional[str] = None) -> None:
        self.name, self.files, self.searched = name, list(files), list(searched)
        lines = [f"{name}: could not find {', '.join(self.files)} in any of these folders:"]
        lines += [f"  {d}" for d in self.searched]
        lines.append("To get the files, either:")
        lines.append(f"  - pass download=True (`download: true` in a config) to fetch them from "
                     f"the official mirrors into {download_dir} (set CLNET_DATA_MIRRORS to use "
                     f"another mirror),")
        if debian_package:
            lines.append(f"  - install Debian's package: apt-get install {debian_package} "
                         f"(puts the files in /usr/share/datasets/{name}),")
        lines.append("  - or place the files (.gz or uncompressed) in the folder given as root, "
                     "flat or in torchvision's <Name>/raw/ layout, or under $CLNET_DATA/"
                     f"{name}.")
        super().__init__("\n".join(lines))


class DownloadError(RuntimeError):
    """Every mirror failed for a file; ``failures`` holds (url, reason) for each."""

    def __init__(self, filename: str, failures: Iterable[Tuple[str, str]]) -> None:
        self.filename, self.failures = filename, list(failures)
        tried = "\n".join(f"  {url}: {why}" for url, why in self.failures) or "  (no mirrors)"
        super().__init__(f"could not download {filename}; tried:\n{tried}")


def _parse_checksum(checksum):
    if checksum is None:
        return None, None
    algo, _, digest = checksum.partition(":")
    if not digest:
        algo, digest = {32: "md5", 64: "sha256"}.get(len(checksum)), checksum
    if algo not in ("md5", "sha256"):
        raise ValueError(f"checksum {checksum!r}: expected 'md5:<hex>', 'sha256:<hex>' or a bare "
                         f"32/64-digit hex digest")
    return algo, digest.lower()


def download_file(url: str, dest: PathLike, checksum: Optional[str] = None,
                  timeout: float = TIMEOUT_S) -> PathLike:
    """Fetch ``url`` to ``dest`` atomically, verifying ``checksum`` ('md5:...'/'sha256:...');
    raises ValueError on a mismatch (``dest`` is then left untouched)."""
    algo, expected = _parse_checksum(checksum)
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(dest) + ".",
                               suffix=".part")
    try:
        hasher = hashlib.new(algo) if algo else None
        request = urllib.request.Request(url, headers={"User-Agent": "clnet"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                if hasher:
                    hasher.update(chunk)
        if hasher and hasher.hexdigest() != expected:
            raise ValueError(f"checksum mismatch: expected {algo} {expected}, got "
                             f"{hasher.hexdigest()}")
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return dest


def _mirrors(spec, mirrors):
    if mirrors is None:
        env = os.environ.get("CLNET_DATA_MIRRORS", "").replace(",", " ").split()
        mirrors = env or spec.mirrors
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _fetch(filename, dest, mirrors, checksum):
    failures = []
    for base in mirrors:
        url = base + filename
        try:
            return download_file(url, dest, checksum)
        except urllib.error.HTTPError as exc:
            failures.append((url, f"HTTP {exc.code} {exc.reason}"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append((url, getattr(exc, "reason", None) or exc))
    raise DownloadError(filename, failures)


def download_resources(spec: Any, filenames: Sequence[str], target: PathLike,
                       mirrors: Optional[Sequence[str]] = None,
                       checksums: Optional[Dict[str, str]] = None) -> PathLike:
    """Download ``filenames`` of dataset ``spec`` into ``target`` (skipping files already there).
    EMNIST's files come from one zip archive, extracted member by member."""
    mirrors = _mirrors(spec, mirrors)
    sums = dict(spec.checksums)
    if spec.archive:
        sums[spec.archive[0]] = spec.archive[1]
    sums.update(checksums or {})
    os.makedirs(target, exist_ok=True)
    if spec.archive:
        return _download_from_archive(spec, filenames, target, mirrors, sums)
    for name in filenames:
        dest = os.path.join(target, name)
        if not os.path.isfile(dest):
            _fetch(name, dest, mirrors, sums.get(name))
    return target


def _download_from_archive(spec, filenames, target, mirrors, sums):
    archive_name, _, inner = spec.archive
    missing = [n for n in filenames if not os.path.isfile(os.path.join(target, n))]
    if not missing:
        return target
    archive = os.path.join(target, archive_name)
    if not os.path.isfile(archive):
        _fetch(archive_name, archive, mirrors, sums.get(archive_name))
    with zipfile.ZipFile(archive) as z:
        for name in missing:
            member = f"{inner}/{name}" if inner else name
            fd, tmp = tempfile.mkstemp(dir=target, prefix="." + name + ".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, z.open(member) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                os.replace(tmp, os.path.join(target, name))
            except BaseException:
                if os.path.exists(tmp):
                    os.remove(tmp)
                raise
    return target
