"""Shared helpers for the tests: tiny IDX files, a tiny MNIST folder, script runs.

Nothing here downloads anything: every file a test needs is written into a temporary
folder, except the tests that read the real files in data/.
"""

import os

# before anything imports matplotlib: never open a window during the tests
os.environ.setdefault("MPLBACKEND", "Agg")
# before anything imports torch (and inherited by the scripts the tests run): one thread.
# On a small machine shared with other work, torch's busy-waiting thread pool can make a
# one-epoch run take 30 times longer; for this small network one thread is as fast.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gzip as gzip_module
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT / "data"

IMAGE_NAMES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABEL_NAMES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# -- writing IDX files ---------------------------------------------------------------


def idx_bytes(data, magic=None, dims=None, extra=b"", truncate=None, little_endian=False):
    """The uncompressed bytes of an IDX file, with whatever defects are asked for.

    data: a numpy array (written as unsigned bytes, its shape as the dims) or raw bytes
        (then dims defaults to (len(data),)).
    magic: an int (written as 4 bytes), 4 raw bytes, or None for 0x0800 + len(dims).
    dims: the sizes written in the header; defaults to the array's shape.
    extra: bytes appended after the payload.
    truncate: keep only this many bytes of the whole file (header included).
    little_endian: write magic and sizes in the wrong byte order.
    """
    if isinstance(data, (bytes, bytearray)):
        payload = bytes(data)
        shape = (len(payload),)
    else:
        array = np.asarray(data)
        payload = array.astype(np.uint8).tobytes()
        shape = array.shape
    dims = tuple(shape if dims is None else dims)
    order = "little" if little_endian else "big"
    if magic is None:
        magic = 0x0800 + len(dims)
    head = magic if isinstance(magic, bytes) else int(magic).to_bytes(4, order)
    head += b"".join(int(d).to_bytes(4, order, signed=True) for d in dims)
    content = head + payload + extra
    return content if truncate is None else content[:truncate]


def write_idx(path, data, magic=None, dims=None, gzip=True, extra=b"", truncate=None,
              little_endian=False):
    """Write an IDX file (gzip-compressed unless gzip=False) at `path`; return the path.

    See idx_bytes for the arguments. The name does not decide the format: a gzipped
    file may be written without '.gz' and a raw one with it.
    """
    content = idx_bytes(data, magic, dims, extra, truncate, little_endian)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip_module.compress(content, mtime=0) if gzip else content)
    return path


def random_images(rng, count):
    return rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def random_labels(rng, count):
    return rng.integers(0, 10, size=count, dtype=np.uint8)


def make_mnist_folder(folder, n_train=120, n_test=40, seed=0, gzip=True):
    """Write the four MNIST files with random 28x28 images and labels 0-9 into `folder`.

    Returns a namespace with `path` and the arrays written (train_images, train_labels,
    test_images, test_labels), so that tests know what the files hold.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    written = SimpleNamespace(path=folder)
    suffix = ".gz" if gzip else ""
    for split, count in (("train", n_train), ("test", n_test)):
        images, labels = random_images(rng, count), random_labels(rng, count)
        write_idx(folder / (IMAGE_NAMES[split] + suffix), images, gzip=gzip)
        write_idx(folder / (LABEL_NAMES[split] + suffix), labels, gzip=gzip)
        setattr(written, f"{split}_images", images)
        setattr(written, f"{split}_labels", labels)
    return written


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """A complete MNIST-style folder: 120 training and 40 test images. Read it only."""
    return make_mnist_folder(tmp_path_factory.mktemp("tiny-mnist"))


# -- running the scripts -------------------------------------------------------------


def headless_env():
    """The environment of a plain terminal without a display and without MPLBACKEND."""
    env = dict(os.environ)
    for name in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


def run_script(args, env=None, timeout=180):
    """Run `python <args>` in the repository folder; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, env=env or headless_env(),
        capture_output=True, text=True, timeout=timeout,
    )


def run_scripts(commands, env=None, workers=4):
    """Run several `python <args>` at once (they mostly wait on imports); dict by name.

    commands: a dict from a name to the argument list of one run.
    """
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(run_script, args, env)
                   for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]
