"""Fetch the MNIST files that are missing from a data folder.

MNIST is four gzip files (training images and labels, test images and labels). This
module downloads the ones a folder does not hold yet, using only the standard library:

    python main.py --download               # fetch what is missing into data/, then train
    python MNISTDataset.py --download       # fetch what is missing, then draw a digit

or from Python:

    from download import download_mnist
    download_mnist("data")

How it goes, for each file:

- A file that is already there, gzipped or extracted (for example
  `train-images-idx3-ubyte` or `train-images.idx3-ubyte`), is skipped and left untouched.
- Otherwise the mirrors in MIRRORS are tried in order. The file is written to a hidden
  temporary file (`.<name>.<random>.part`) in the data folder, its MD5 checksum is
  computed on the way and compared with MD5_SUMS, and only a complete file with the right
  checksum is renamed to its real name. So a failed or interrupted download never leaves
  a broken file behind that would later look like MNIST.
- When every mirror fails, DownloadError says why for each one and what to do next.
"""

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from MNISTDataset import file_candidates


# PyTorch's copy first: LeCun's site often answers 403 or 404 these days
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

# MD5 of each .gz as the mirrors serve it
MD5_SUMS = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

CHUNK_SIZE = 1 << 16  # bytes read from the network at a time
USER_AGENT = "mnist-tutorial-download/1.0 (Python urllib)"

# the default `progress`: sys.stderr as it is when download_mnist is called, so that
# redirecting sys.stderr (as pytest and contextlib do) is respected
_STDERR = object()


class DownloadError(Exception):
    """A file that could not be fetched from any mirror."""


class _MirrorFailed(Exception):
    """One mirror did not give a good copy of a file; the message says why."""


def download_mnist(data_dir, mirrors=MIRRORS, md5_sums=MD5_SUMS, timeout=30,
                   progress=_STDERR):
    """Download the MNIST files missing from `data_dir`; return the paths written.

    Args:
        data_dir: folder for the files; created (with its parents) if needed.
        mirrors: base URLs tried in order; a file's URL is the base plus its name.
        md5_sums: {file name: MD5 hex digest}; its keys are the files to fetch.
        timeout: seconds to wait for a connection or for the next piece of data.
        progress: stream for progress lines (default: sys.stderr); None prints nothing.
            On a terminal one line per file is updated with a percentage; otherwise
            each file gets a start line and an end line.

    Returns a list of the Paths written, in the order of `md5_sums` (empty when every
    file was already there). Raises DownloadError when a file cannot be fetched from any
    mirror; the files fetched before it stay in place.
    """
    if progress is _STDERR:
        progress = sys.stderr
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(
            f"cannot create the data folder '{data_dir}' ({_describe(error)}): create it "
            "yourself, or pass another folder"
        ) from None

    # a fresh opener each call, so proxy settings are read from the environment now
    opener = urllib.request.build_opener()
    written = []
    for name, md5 in md5_sums.items():
        present = _present_file(data_dir, name)
        if present is not None:
            _say(progress, f"Skipping {name}: {present} is already there")
            continue

        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                path = _fetch(opener, url, data_dir, name, md5, timeout, progress)
            except _MirrorFailed as failure:
                failures.append(f"{url} ({failure})")
                _say(progress, f"  failed: {failure}")
                continue
            if path is not None:
                written.append(path)
            break
        else:
            tried = "; ".join(failures) if failures else "no mirror given"
            raise DownloadError(
                f"could not download {name}: {tried}. Check your network connection, or "
                f"download the four files by hand and copy them into '{data_dir}' (see "
                "the README)"
            )
    return written


def _fetch(opener, url, data_dir, name, md5, timeout, progress):
    """Download `url` and put it in place as `data_dir/name` if its MD5 is `md5`.

    Returns the final path, or None when the file turned up meanwhile (then it is left
    as it is). Raises _MirrorFailed with a short reason when this mirror did not work;
    the temporary file is removed in every case, Ctrl-C included.
    """
    final = data_dir / name
    tty = _is_tty(progress)
    line = _Line(progress, tty)
    line.show(f"Downloading {name} from {url}")
    part = None
    received = 0
    total = None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with opener.open(request, timeout=timeout) as response:
            total = _content_length(response)
            digest = hashlib.md5()
            head = b""  # the first bytes, to recognise a web page
            fd, part = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.", suffix=".part")
            with os.fdopen(fd, "wb") as out:
                shown = None
                while chunk := response.read(CHUNK_SIZE):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    if len(head) < 512:
                        head += chunk[:512]
                    if tty:
                        if total:
                            done = f"{min(100, received * 100 // total):3d}%"
                        else:
                            done = _size(received)
                        if done != shown:
                            shown = done
                            line.show(f"Downloading {name} from {url} {done}")
                out.flush()
                os.fsync(out.fileno())
        line.end()

        # check the data before giving it the real name
        if total is not None and received < total:
            raise _MirrorFailed(_cut_short(received, total))
        if digest.hexdigest() != md5.lower():
            if head.lstrip()[:1] == b"<":
                raise _MirrorFailed(
                    "checksum mismatch: got what looks like a web page (an error page), "
                    "not the file"
                )
            raise _MirrorFailed(
                f"checksum mismatch: MD5 {digest.hexdigest()}, expected {md5.lower()}"
            )

        # NOTE: checked again because a good copy may have appeared while downloading
        present = _present_file(data_dir, name)
        if present is not None:
            _say(progress, f"  {present} appeared meanwhile; left as it is")
            return None
        os.chmod(part, 0o644)  # mkstemp makes it readable by its owner only
        os.replace(part, final)
        part = None
        _say(progress, f"  saved {final} ({_size(received)}, checksum ok)")
        return final
    except _MirrorFailed:
        raise
    except http.client.IncompleteRead as error:
        raise _MirrorFailed(_cut_short(received + len(error.partial), total)) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        # URLError covers HTTPError; OSError covers timeouts and connection errors
        raise _MirrorFailed(_describe(err)) from None
    finally:
        line.end()
        if part is not None:
            try:
                os.remove(part)
            except OSError:
                pass


def _present_file(data_dir, name):
    """The path under which `name` (gzipped or extracted) already is, or None."""
    stem = name[:-3] if name.endswith(".gz") else name
    for candidate in file_candidates(stem):
        if (data_dir / candidate).is_file():
            return data_dir / candidate
    return None


def _describe(error):
    """A few words on why a download failed."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}".rstrip()
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, BaseException):
            return _describe(reason)
        return str(reason)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, socket.gaierror):
        return "host not found"
    if isinstance(error, http.client.HTTPException):
        return f"bad HTTP answer ({type(error).__name__})"
    if isinstance(error, ValueError):
        return f"bad URL ({error})"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or type(error).__name__


def _content_length(response):
    """The Content-Length header as an int, or None when absent or not a number."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _cut_short(received, total):
    """Why a body that ended early failed: how much came of how much."""
    if total is None:
        return f"cut short after {received:,} bytes"
    return f"cut short: {received:,} of {total:,} bytes"


def _size(count):
    """A byte count for people: '532 bytes', '28.9 kB', '9.9 MB'."""
    if count < 1000:
        return f"{count} bytes"
    if count < 1000 ** 2:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1000 ** 2:.1f} MB"


class _Line:
    """A progress line: redrawn in place on a terminal, printed once elsewhere."""

    def __init__(self, stream, tty):
        self.stream = stream
        self.tty = tty
        self.open = False  # True once the line is shown, until it is ended
        self.width = 0  # longest text drawn, so that a shorter one covers it

    def show(self, text):
        if self.stream is None:
            return
        if self.tty:
            self.width = max(self.width, len(text))
            self.stream.write("\r" + text.ljust(self.width))
            self.open = True
        elif not self.open:
            self.stream.write(text + "\n")
            self.open = True  # later updates are for the terminal only
        self.stream.flush()

    def end(self):
        if self.stream is not None and self.tty and self.open:
            self.stream.write("\n")
            self.stream.flush()
        self.open = False


def _is_tty(stream):
    """True when `stream` is a terminal (where a line can be redrawn with \\r)."""
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def _say(stream, text):
    """Write one line to `stream`, unless it is None."""
    if stream is not None:
        stream.write(text + "\n")
        stream.flush()
