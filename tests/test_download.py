"""Tests of download.py against a real HTTP server on 127.0.0.1 (no internet needed).

The server's first path part picks how it answers: /good/<name> serves the file,
/corrupt/ the same length of wrong bytes, /truncated/ half of it under a full
Content-Length, /html/ an error page with status 200, /missing/ a 404, /slow/ and
/stall/ nothing until the client has given up.
"""

import gzip
import hashlib
import io
import os
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import download  # noqa: E402
import MNISTDataset  # noqa: E402
from download import DownloadError, download_mnist  # noqa: E402


NAMES = list(download.MD5_SUMS)  # the four .gz names, in download order
FAKE = {name: gzip.compress(f"fake {name}\n".encode() * 40, mtime=0) for name in NAMES}
HTML_PAGE = b"\r\n  <!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n"
OLD_TIME = 1_000_000_000  # an mtime in 2001, set on files that must not be touched


def md5_of(files):
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


# -- the local mirror ----------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        mirror = self.server.mirror
        mirror.requests.append(self.path)
        if mirror.on_request is not None:
            mirror.on_request(self.path)
        mode, _, name = self.path.strip("/").partition("/")
        data = mirror.files.get(name)
        if mode == "missing" or data is None:
            self.send_error(404)
        elif mode == "good":
            self.answer(data)
        elif mode == "nolength":
            self.answer(data, length=None)
        elif mode == "corrupt":
            self.answer(bytes(b ^ 0x55 for b in data))
        elif mode == "truncated":
            self.answer(data[: len(data) // 2], length=len(data))
            self.close_connection = True
        elif mode == "html":
            self.answer(HTML_PAGE, content_type="text/html")
        elif mode == "slow":  # headers at once, then no body until released
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.flush()
            mirror.release.wait(5)
            self.wfile.write(data)
        elif mode == "stall":  # not even the headers until released
            mirror.release.wait(5)
            self.answer(data)
        else:
            self.send_error(500, f"unknown mode {mode}")

    def answer(self, body, length=-1, content_type="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(len(body) if length == -1 else length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # keep the test output clean


class Mirror:
    """What the server serves (`files`), what it was asked (`requests`), and hooks."""

    def __init__(self, port):
        self.port = port
        self.files = dict(FAKE)
        self.requests = []
        self.on_request = None
        self.release = threading.Event()

    def url(self, mode):
        return f"http://127.0.0.1:{self.port}/{mode}/"

    def asked(self):
        """The file names requested, in order."""
        return [path.rsplit("/", 1)[-1] for path in self.requests]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hung up on a slow or cut answer: expected here


@pytest.fixture
def mirror():
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.mirror = Mirror(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.mirror
    server.mirror.release.set()
    server.shutdown()
    server.server_close()
    thread.join(2)


@pytest.fixture
def refused_url():
    """The URL of a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Make sure 127.0.0.1 is reached directly even when a proxy is configured."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def fetch(data_dir, mirrors, files=FAKE, **kwargs):
    kwargs.setdefault("timeout", 2)
    kwargs.setdefault("progress", None)
    return download_mnist(data_dir, mirrors=mirrors, md5_sums=md5_of(files), **kwargs)


def leftovers(folder):
    """Temporary files left in `folder` (there should never be any)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".part"))


def snapshot(path):
    return path.read_bytes(), os.stat(path).st_mtime_ns


def put_old(path, data):
    """Write a file that must stay as it is, dated long ago."""
    path.write_bytes(data)
    os.utime(path, (OLD_TIME, OLD_TIME))
    return snapshot(path)


class TTY(io.StringIO):
    def isatty(self):
        return True


# -- the module's constants ----------------------------------------------------------


def test_mirrors_and_md5_sums_name_the_four_mnist_files():
    assert download.MIRRORS == ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                                "http://yann.lecun.com/exdb/mnist/"]
    expected = [n + ".gz" for split in ("train", "test")
                for n in MNISTDataset.MNIST_FILES[split]]
    assert NAMES == expected
    assert download.MD5_SUMS["train-images-idx3-ubyte.gz"] == \
        "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in download.MD5_SUMS.values())


# -- a good mirror: every file fetched, checked and put in place ---------------------


def test_all_four_files_fetched_and_verified(mirror, tmp_path):
    data_dir = tmp_path / "data"
    written = fetch(data_dir, [mirror.url("good")])
    assert written == [data_dir / name for name in NAMES]
    for name in NAMES:
        assert (data_dir / name).read_bytes() == FAKE[name]
    assert mirror.asked() == NAMES
    assert leftovers(data_dir) == []
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(NAMES)


def test_nested_data_dir_is_created(mirror, tmp_path):
    data_dir = tmp_path / "a" / "b" / "data"
    fetch(data_dir, [mirror.url("good")])
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(NAMES)


def test_body_without_content_length_is_accepted_when_checksum_matches(mirror, tmp_path):
    written = fetch(tmp_path, [mirror.url("nolength")])
    assert [p.read_bytes() for p in written] == [FAKE[name] for name in NAMES]


def test_second_run_fetches_nothing(mirror, tmp_path):
    fetch(tmp_path, [mirror.url("good")])
    mirror.requests.clear()
    assert fetch(tmp_path, [mirror.url("good")]) == []
    assert mirror.requests == []


def test_real_idx_files_download_and_load_as_mnistdataset(mirror, tmp_path):
    rng = np.random.default_rng(0)
    labels = {"train": np.array([5, 0, 4, 1, 9], dtype=np.uint8),
              "test": np.array([7, 2, 1], dtype=np.uint8)}
    images = {split: rng.integers(0, 256, (len(labels[split]), 28, 28), dtype=np.uint8)
              for split in labels}
    files = {}
    for split, (images_name, labels_name) in MNISTDataset.MNIST_FILES.items():
        count = len(labels[split])
        files[images_name + ".gz"] = gzip.compress(
            struct.pack(">IIII", 2051, count, 28, 28) + images[split].tobytes())
        files[labels_name + ".gz"] = gzip.compress(
            struct.pack(">II", 2049, count) + labels[split].tobytes())
    mirror.files = files

    data_dir = tmp_path / "data"
    fetch(data_dir, [mirror.url("good")], files=files)

    for split in ("train", "test"):
        dataset = MNISTDataset.load_split(data_dir, split)
        assert len(dataset) == len(labels[split])
        assert torch.equal(dataset.labels, torch.from_numpy(labels[split].astype(np.int64)))
        expected = torch.from_numpy(images[split].reshape(len(labels[split]), -1)) / 255
        assert torch.equal(dataset.images, expected.float())


# -- a failing mirror: the next one is tried -----------------------------------------


@pytest.mark.parametrize("bad", ["missing", "html", "corrupt", "truncated", "refused"])
def test_bad_first_mirror_falls_back_to_the_second(mirror, refused_url, tmp_path, bad):
    first = refused_url if bad == "refused" else mirror.url(bad)
    out = io.StringIO()
    written = fetch(tmp_path, [first, mirror.url("good")], progress=out)
    assert [p.read_bytes() for p in written] == [FAKE[name] for name in NAMES]
    assert leftovers(tmp_path) == []
    assert out.getvalue().count("failed:") == 4
    assert out.getvalue().count("checksum ok") == 4


def test_404_is_reported_then_second_mirror_used(mirror, tmp_path):
    out = io.StringIO()
    fetch(tmp_path, [mirror.url("missing"), mirror.url("good")], progress=out)
    assert "failed: HTTP 404" in out.getvalue()
    assert mirror.requests[:2] == ["/missing/" + NAMES[0], "/good/" + NAMES[0]]


def test_slow_first_mirror_times_out_then_second_used(mirror, tmp_path):
    written = fetch(tmp_path, [mirror.url("slow"), mirror.url("good")], timeout=0.1,
                    files={NAMES[0]: FAKE[NAMES[0]]})
    assert written == [tmp_path / NAMES[0]]
    assert written[0].read_bytes() == FAKE[NAMES[0]]


# -- every mirror fails: DownloadError says why, and nothing is left behind ----------


def test_all_html_pages_say_it_looks_like_a_web_page(mirror, tmp_path):
    with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte\.gz.*web page"):
        fetch(tmp_path, [mirror.url("html"), mirror.url("html")])
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_is_a_checksum_mismatch_not_a_web_page(mirror, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch") as caught:
        fetch(tmp_path, [mirror.url("corrupt")])
    assert "web page" not in str(caught.value)
    assert hashlib.md5(FAKE[NAMES[0]]).hexdigest() in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_is_cut_short(mirror, tmp_path):
    size = len(FAKE[NAMES[0]])
    with pytest.raises(DownloadError, match=rf"cut short: {size // 2:,} of {size:,} bytes"):
        fetch(tmp_path, [mirror.url("truncated")])
    assert list(tmp_path.iterdir()) == []


def test_404_everywhere(mirror, tmp_path):
    with pytest.raises(DownloadError, match=r"\(HTTP 404 Not Found\)"):
        fetch(tmp_path, [mirror.url("missing")])
    assert list(tmp_path.iterdir()) == []


def test_connection_refused(refused_url, tmp_path):
    with pytest.raises(DownloadError, match=r"\(connection refused\)"):
        fetch(tmp_path, [refused_url])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["slow", "stall"])  # body late, or even the headers
def test_timeout(mirror, tmp_path, mode):
    with pytest.raises(DownloadError, match=r"\(timed out\)"):
        fetch(tmp_path, [mirror.url(mode)], timeout=0.1)
    assert list(tmp_path.iterdir()) == []


def test_error_is_one_line_naming_each_mirror_and_what_to_do(mirror, refused_url, tmp_path):
    mirrors = [mirror.url("missing"), mirror.url("html"), refused_url]
    with pytest.raises(DownloadError) as caught:
        fetch(tmp_path, mirrors)
    message = str(caught.value)
    assert "\n" not in message
    name = NAMES[0]
    assert message.startswith(f"could not download {name}: ")
    assert (f"{mirrors[0]}{name} (HTTP 404" in message
            and f"{mirrors[1]}{name} (checksum mismatch: got what looks like a web page"
            in message and f"{refused_url}{name} (connection refused)" in message)
    assert message.index(mirrors[0]) < message.index(mirrors[1]) < message.index(refused_url)
    assert "network" in message and str(tmp_path) in message and "README" in message


def test_files_fetched_before_a_failure_stay(mirror, tmp_path):
    mirror.files = {name: FAKE[name] for name in NAMES[:2]}  # the last two are 404
    with pytest.raises(DownloadError, match=NAMES[2]):
        fetch(tmp_path, [mirror.url("good")])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(NAMES[:2])


def test_data_dir_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(DownloadError, match="cannot create the data folder"):
        fetch(tmp_path / "file" / "data", ["http://127.0.0.1:9/"])


def test_ctrl_c_removes_the_temporary_file_and_propagates(mirror, tmp_path):
    name = "big.gz"
    files = {name: os.urandom(300_000)}  # several chunks, so progress is drawn mid-way
    mirror.files = files

    class Interrupting(TTY):
        def write(self, text):
            if "%" in text:
                assert leftovers(tmp_path) != []  # interrupted while the .part exists
                raise KeyboardInterrupt
            return super().write(text)

    with pytest.raises(KeyboardInterrupt):
        fetch(tmp_path, [mirror.url("good")], files=files, progress=Interrupting())
    assert list(tmp_path.iterdir()) == []


# -- files already there are skipped and never touched -------------------------------


def test_present_files_are_skipped_and_not_overwritten(mirror, tmp_path):
    # the mirror serves valid files that differ from the ones in place
    kept = {
        "train-images-idx3-ubyte.gz": b"the gzipped images already here",
        "train-labels.idx1-ubyte": b"labels extracted by another tool",
        "t10k-images-idx3-ubyte": b"test images already extracted",
    }
    before = {name: put_old(tmp_path / name, data) for name, data in kept.items()}
    out = io.StringIO()

    written = fetch(tmp_path, [mirror.url("good")], progress=out)

    assert written == [tmp_path / "t10k-labels-idx1-ubyte.gz"]
    assert mirror.asked() == ["t10k-labels-idx1-ubyte.gz"]
    assert {name: snapshot(tmp_path / name) for name in kept} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*kept, "t10k-labels-idx1-ubyte.gz"])
    assert out.getvalue().count("Skipping") == 3
    assert "Skipping train-labels-idx1-ubyte.gz: " in out.getvalue()
    assert "train-labels.idx1-ubyte is already there" in out.getvalue()


def test_present_file_not_replaced_when_downloads_are_bad(mirror, tmp_path):
    before = put_old(tmp_path / NAMES[0], FAKE[NAMES[0]])
    for bad in ("corrupt", "html", "truncated"):
        with pytest.raises(DownloadError, match=NAMES[1]):
            fetch(tmp_path, [mirror.url(bad)])
        assert snapshot(tmp_path / NAMES[0]) == before
        assert [p.name for p in tmp_path.iterdir()] == [NAMES[0]]


def test_file_that_appears_during_the_download_is_kept(mirror, tmp_path):
    extracted = tmp_path / "train-images-idx3-ubyte"

    def another_program_extracts_it(path):
        if not extracted.exists():
            put_old(extracted, b"extracted meanwhile")

    mirror.on_request = another_program_extracts_it
    out = io.StringIO()
    written = fetch(tmp_path, [mirror.url("good")], progress=out,
                    files={NAMES[0]: FAKE[NAMES[0]]})
    assert written == []
    assert extracted.read_bytes() == b"extracted meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == [extracted.name]
    assert "appeared meanwhile" in out.getvalue()


# -- progress output -----------------------------------------------------------------


def test_progress_in_a_log_is_one_start_and_one_end_line_per_file(mirror, tmp_path):
    out = io.StringIO()
    fetch(tmp_path / "data", [mirror.url("good")], progress=out)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 8
    for i, name in enumerate(NAMES):
        assert lines[2 * i] == f"Downloading {name} from {mirror.url('good')}{name}"
        size = len(FAKE[name])
        assert lines[2 * i + 1] == \
            f"  saved {tmp_path / 'data' / name} ({size} bytes, checksum ok)"


def test_progress_on_a_terminal_redraws_one_line_with_a_percentage(mirror, tmp_path):
    files = {"big.gz": os.urandom(300_000)}
    mirror.files = files
    out = TTY()
    fetch(tmp_path, [mirror.url("good")], files=files, progress=out)
    text = out.getvalue()
    assert text.count("\r") >= 3 and " 21%" in text and "100%" in text
    assert text.endswith(f"100%\n  saved {tmp_path / 'big.gz'} (300.0 kB, checksum ok)\n")


def test_progress_none_prints_nothing(mirror, tmp_path, capsys):
    fetch(tmp_path / "a", [mirror.url("missing"), mirror.url("good")], progress=None)
    with pytest.raises(DownloadError):
        fetch(tmp_path / "b", [mirror.url("html")], progress=None)
    assert capsys.readouterr() == ("", "")


def test_progress_goes_to_stderr_by_default(mirror, tmp_path, capsys):
    download_mnist(tmp_path, mirrors=[mirror.url("good")], md5_sums=md5_of(FAKE))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert all(name in captured.err for name in NAMES)
