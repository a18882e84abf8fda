"""Fetch a built-in data set's original files when they are missing, all or nothing.

A download goes into a temporary folder beside its target, is unpacked there, has the line
count of every file checked, and only then is moved into place with ``os.replace``; any
failure (network, truncated archive, wrong counts, Ctrl-C) removes the temporary folder, so
the data dir never holds half-written files.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from alden.errors import DataError

CORNELL_URL = "http://www.cs.cornell.edu/people/pabo/movie-review-data/"
UCI_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/"
URL_ENV = "ALDEN_DOWNLOAD_URL"  # one mirror root for every download, e.g. for tests
TIMEOUT_S = 30
CHUNK = 1 << 16


@dataclass(frozen=True)
class Remote:
    """Where a built-in set lives under the data dir and where its original files come from."""

    folder: str  # relative to the data dir, e.g. "subj" or "tabular/adult"
    base_url: str  # replaced by $ALDEN_DOWNLOAD_URL when that is set
    downloads: tuple[str, ...]  # paths under the base URL: .tar.gz, .zip or a plain file
    lines: tuple[tuple[str, int], ...]  # each needed file and its count of non-empty lines

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.lines)


def count_lines(path: Path) -> int:
    """Count the non-empty lines of a file, the unit every expected count is given in."""
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def missing_files(remote: Remote, data_dir: Path) -> list[str]:
    """Names of the files of ``remote`` that are not in its folder under ``data_dir``."""
    folder = data_dir / remote.folder
    return [name for name in remote.files if not (folder / name).is_file()]


def urls(remote: Remote) -> list[str]:
    """The download URLs of ``remote``, under $ALDEN_DOWNLOAD_URL when that is set."""
    base = os.environ.get(URL_ENV) or remote.base_url
    return [base.rstrip("/") + "/" + path for path in remote.downloads]


def where_to_put(remote: Remote, data_dir: Path) -> str:
    """The instruction for a user without network: which files to put into which folder."""
    names = ", ".join(remote.files)
    sources = ", ".join(urls(remote))
    return (f"put {names} (from {sources}) into {data_dir / remote.folder}/, "
            f"or point ALDEN_DATA (or data_dir) at a folder that holds {remote.folder}/")


def ensure(remote: Remote, data_dir: Path, *, download: bool = True,
           progress: bool = True) -> Path:
    """Return the folder of ``remote`` under ``data_dir``, downloading its files if missing."""
    folder = data_dir / remote.folder
    missing = missing_files(remote, data_dir)
    if not missing:
        return folder
    if not download:
        raise DataError(f"{remote.folder}: missing {', '.join(missing)} in {folder}; "
                        + where_to_put(remote, data_dir))
    try:
        fetch(remote, data_dir, progress=progress)
    except DataError as err:
        raise DataError(f"{remote.folder}: {err}; {where_to_put(remote, data_dir)}") from None
    return folder


def fetch(remote: Remote, data_dir: Path, *, progress: bool = True) -> None:
    """Download, unpack and verify ``remote`` in a temporary folder, then move it into place."""
    target = data_dir / remote.folder
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.download-", dir=target.parent))
    try:
        staged = tmp / target.name
        staged.mkdir()
        for url in urls(remote):
            archive = tmp / url.rsplit("/", 1)[-1]
            download_file(url, archive, progress=progress)
            unpack(archive, remote.files, staged)
        verify(remote, staged)
        move_into_place(staged, target, remote.files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def download_file(url: str, dest: Path, *, progress: bool = True) -> None:
    """Stream ``url`` into ``dest`` with a progress bar; a short or failed read is a DataError."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                               desc=dest.name, disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        raise DataError(f"could not download {url} (HTTP {err.code} {err.reason})") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DataError(f"could not download {url} ({reason})") from None
    if total is not None and done != total:
        raise DataError(f"download of {url} stopped after {done} of {total} bytes")


def unpack(archive: Path, wanted: Iterable[str], out_dir: Path) -> None:
    """Copy the wanted files (matched by base name) out of a .tar.gz/.zip, or keep a plain file."""
    wanted = set(wanted)
    try:
        if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tar:
                for member in tar:
                    name = Path(member.name).name
                    if member.isfile() and name in wanted:
                        extracted = tar.extractfile(member)
                        assert extracted is not None  # a regular file (isfile) has a reader
                        with extracted as src, open(out_dir / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        elif archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for info in zipped.infolist():
                    name = Path(info.filename).name
                    if not info.is_dir() and name in wanted:
                        with zipped.open(info) as src, open(out_dir / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        elif archive.name in wanted:
            shutil.copyfile(archive, out_dir / archive.name)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise DataError(f"{archive.name} is damaged ({err})") from None


def verify(remote: Remote, staged: Path) -> None:
    """Check every file of ``remote`` arrived with its expected count of non-empty lines."""
    for name, expected in remote.lines:
        path = staged / name
        if not path.is_file():
            raise DataError(f"the download holds no {name}")
        found = count_lines(path)
        if found != expected:
            raise DataError(f"downloaded {name} has {found} lines, expected {expected}")


def move_into_place(staged: Path, target: Path, names: Iterable[str]) -> None:
    """Rename the staged folder onto a missing target, else move each missing file atomically."""
    if not target.exists():
        try:
            os.replace(staged, target)
            return
        except OSError:  # another process put the folder there first: fill in file by file
            pass
    for name in names:
        if not (target / name).exists():
            os.replace(staged / name, target / name)
