"""Downloads of missing built-in sets, against a local HTTP server: all or nothing."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from alden.data import download as dl
from alden.data.datasets import load_dataset
from alden.errors import DataError


class Handler(SimpleHTTPRequestHandler):
    """Serves a folder quietly; paths in ``truncated`` send half their bytes, then hang up."""

    truncated: set[str] = set()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path not in self.truncated:
            super().do_GET()
            return
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


@pytest.fixture
def www(tmp_path, monkeypatch):
    """A folder served on 127.0.0.1, with $ALDEN_DOWNLOAD_URL pointing at it."""
    root = tmp_path / "www"
    root.mkdir()
    Handler.truncated = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv(dl.URL_ENV, f"http://127.0.0.1:{server.server_port}/")
    yield root
    server.shutdown()
    server.server_close()


def tarball(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def lines(prefix: bytes, n: int) -> bytes:
    return b"".join(b"%s %d .\n" % (prefix, i) for i in range(n))


def subj_archive(www: Path, quote_count: int = 5000) -> Path:
    return tarball(www / "rotten_imgs.tar.gz", {
        "quote.tok.gt9.5000": b"a clich\xe9 .\n" + lines(b"quote", quote_count - 1),
        "plot.tok.gt9.5000": lines(b"plot", 5000),
        "subjdata.README.1.0": b"readme\n",
    })


def test_missing_set_is_downloaded_verified_and_moved_into_place(www, tmp_path, capsys):
    subj_archive(www)
    data = load_dataset("subj", tmp_path / "data")
    assert len(data) == 10000 and np.bincount(data.labels).tolist() == [5000, 5000]
    assert "a cliché ." in data.texts
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["subj"]
    assert sorted(p.name for p in (tmp_path / "data" / "subj").iterdir()) == [
        "plot.tok.gt9.5000", "quote.tok.gt9.5000"]
    assert "rotten_imgs.tar.gz" in capsys.readouterr().err  # the progress bar
    (www / "rotten_imgs.tar.gz").unlink()  # the next load reads the files, no new download
    assert len(load_dataset("subj", tmp_path / "data")) == 10000


def test_archive_with_a_folder_inside(www, tmp_path):
    tarball(www / "rt-polaritydata.tar.gz", {
        "rt-polaritydata/rt-polarity.pos": lines(b"good", 5331),
        "rt-polaritydata/rt-polarity.neg": lines(b"bad", 5331)})
    data = load_dataset("mr", tmp_path / "data", progress=False)
    assert len(data) == 10662 and data.texts[0] == "bad 0 ."


def assert_nothing_written(data_dir: Path) -> None:
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_wrong_line_count_leaves_nothing_and_says_where_to_put_files(www, tmp_path):
    subj_archive(www, quote_count=4999)
    with pytest.raises(DataError) as err:
        load_dataset("subj", tmp_path / "data", progress=False)
    message = str(err.value)
    assert "downloaded quote.tok.gt9.5000 has 4999 lines, expected 5000" in message
    assert f"put quote.tok.gt9.5000, plot.tok.gt9.5000 (from {dl.urls(dl_subj())[0]}) " \
           f"into {tmp_path / 'data' / 'subj'}/" in message
    assert_nothing_written(tmp_path / "data")


def dl_subj() -> dl.Remote:
    from alden.data.datasets import TEXT_SETS
    return TEXT_SETS["subj"].remote


def test_truncated_download_leaves_nothing(www, tmp_path):
    subj_archive(www)
    Handler.truncated = {"/rotten_imgs.tar.gz"}
    with pytest.raises(DataError, match=r"rotten_imgs.tar.gz stopped after \d+ of \d+ bytes"):
        load_dataset("subj", tmp_path / "data", progress=False)
    assert_nothing_written(tmp_path / "data")


def test_damaged_archive_leaves_nothing(www, tmp_path):
    (www / "rotten_imgs.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"rotten_imgs.tar.gz is damaged"):
        load_dataset("subj", tmp_path / "data", progress=False)
    assert_nothing_written(tmp_path / "data")


def test_http_error_names_the_url(www, tmp_path):
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1:\d+/"
                                        r"rt-polaritydata\.tar\.gz \(HTTP 404 "):
        load_dataset("mr", tmp_path / "data", progress=False)
    assert_nothing_written(tmp_path / "data")


def test_no_network_says_which_files_to_put_where(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port on which nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(dl.URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(DataError, match=r"could not download .*put rt-polarity\.pos, "
                                        r"rt-polarity\.neg .* into .*/data/mr/"):
        load_dataset("mr", tmp_path / "data", progress=False)
    assert_nothing_written(tmp_path / "data")


def test_interrupted_download_leaves_nothing(www, tmp_path, monkeypatch):
    subj_archive(www)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "verify", interrupt)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("subj", tmp_path / "data", progress=False)
    assert_nothing_written(tmp_path / "data")


def test_a_partly_filled_folder_gets_only_its_missing_files(www, tmp_path):
    subj_archive(www)
    mine = tmp_path / "data" / "subj" / "quote.tok.gt9.5000"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(lines(b"mine", 5000))
    data = load_dataset("subj", tmp_path / "data", progress=False)
    assert mine.read_bytes() == lines(b"mine", 5000)
    assert "mine 0 ." in data.texts and "plot 0 ." in data.texts
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["subj"]


def test_uci_table_falls_back_to_a_plain_file_download(www, tmp_path):
    (www / "magic").mkdir()
    (www / "magic" / "magic04.data").write_text(
        "".join(f"{i},{i % 7},1,2,3,4,5,6,7,8,{'gh'[i % 2]}\n" for i in range(19020)))
    data = load_dataset("magic", tmp_path / "data", progress=False)
    assert data.features.shape == (19020, 10) and data.label_names == ("g", "h")
    assert (tmp_path / "data" / "tabular" / "magic" / "magic04.data").is_file()


def test_uci_table_falls_back_to_a_zip_download(www, tmp_path):
    header = ('"age";"job";"marital";"education";"default";"balance";"housing";"loan";'
              '"contact";"day";"month";"duration";"campaign";"pdays";"previous";"poutcome";"y"')
    row = '{};"services";"married";"primary";"no";1787;"no";"no";"cellular";19;"oct";79;1;-1;0;' \
          '"unknown";"{}"'
    csv = "\n".join([header] + [row.format(20 + i % 50, "yes" if i % 9 == 0 else "no")
                                for i in range(4521)]) + "\n"
    (www / "00222").mkdir()
    with zipfile.ZipFile(www / "00222" / "bank.zip", "w") as zipped:
        zipped.writestr("bank.csv", csv)
        zipped.writestr("bank-full.csv", header + "\n")
    data = load_dataset("bank", tmp_path / "data", progress=False)
    assert len(data) == 4521 and data.label_names == ("no", "yes")
    assert "duration" not in data.feature_names
    assert sorted(p.name for p in (tmp_path / "data" / "tabular" / "bank").iterdir()) == [
        "bank.csv"]


def test_ensure_without_download_on_a_complete_folder_touches_no_network(tmp_path):
    remote = dl.Remote("x", "http://invalid.invalid/", ("x.tar.gz",), (("a.txt", 1),))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("one\n")
    assert dl.ensure(remote, tmp_path, download=False) == tmp_path / "x"
    assert dl.missing_files(remote, tmp_path / "elsewhere") == ["a.txt"]
