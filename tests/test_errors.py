"""Every kind of bad input gets an MNISTDataError that names the file and what to do.

The last groups run the two scripts on bad data and bad flags: one line on stderr, exit
code 2, no traceback.
"""

import gzip
import io
import re
import shutil
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    IMAGE_NAMES,
    LABEL_NAMES,
    idx_bytes,
    random_images,
    random_labels,
    run_scripts,
    write_idx,
)
import main as main_module
import MNISTDataset as dataset_module
from MNISTDataset import MNISTDataError, MNISTDataset, mnist_paths

RNG_SEED = 5


def says(*parts):
    """A pattern for pytest.raises(match=...): these parts of the message, in order."""
    return ".*".join(re.escape(str(part)) for part in parts)


def good_images(folder, count=3, name="images-idx3-ubyte.gz"):
    return write_idx(Path(folder) / name, random_images(np.random.default_rng(0), count))


def good_labels(folder, count=3, name="labels-idx1-ubyte.gz"):
    return write_idx(Path(folder) / name, random_labels(np.random.default_rng(0), count))


REDOWNLOAD = ("fetch it again", "--download")


# -- files and folders that are not there --------------------------------------------


def test_missing_file_in_folder_lists_names_folder_contents_and_download(tmp_path):
    good_images(tmp_path, name=IMAGE_NAMES["train"] + ".gz")
    good_labels(tmp_path, name=LABEL_NAMES["train"] + ".gz")
    (tmp_path / "notes.txt").write_text("not MNIST")

    with pytest.raises(MNISTDataError, match=says(
            "no test images file", tmp_path, "looked for", "t10k-images",
            "holds notes.txt, train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz",
            "--download")) as raised:
        mnist_paths(tmp_path, "test")
    # every spelling that would have been accepted is named
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte",
                 "t10k-images.idx3-ubyte.gz", "t10k-images.idx3-ubyte"):
        assert re.search(re.escape(name) + r"[,;)]", str(raised.value)), name


def test_missing_file_in_an_empty_folder_says_it_is_empty(tmp_path):
    with pytest.raises(MNISTDataError, match=says(
            "no training images file", tmp_path, "train-images-idx3-ubyte.gz",
            "is empty", "--download")):
        mnist_paths(tmp_path, "train")


def test_missing_file_given_by_path(tmp_path):
    missing = tmp_path / "t10k-images-idx3-ubyte.gz"
    with pytest.raises(MNISTDataError, match=says(
            "images file", missing, "does not exist", "--download")):
        MNISTDataset(missing, good_labels(tmp_path))


def test_missing_data_folder(tmp_path):
    folder = tmp_path / "no-such-folder"
    with pytest.raises(MNISTDataError, match=says(
            "data folder", folder, "does not exist", "--data-dir", "--download")):
        mnist_paths(folder, "train")


def test_file_given_as_the_data_folder(tmp_path):
    not_a_folder = good_images(tmp_path, name="train-images-idx3-ubyte.gz")
    with pytest.raises(MNISTDataError, match=says(
            "data folder", not_a_folder, "is a file, not a folder", "--data-dir")):
        mnist_paths(not_a_folder, "train")


def test_folder_given_where_a_file_is_expected(tmp_path):
    folder = tmp_path / "train-images-idx3-ubyte.gz"
    folder.mkdir()
    with pytest.raises(MNISTDataError,
                       match=says(folder, "is a folder", "an image file")):
        MNISTDataset(folder, good_labels(tmp_path))


# -- empty files and headers cut short -----------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_empty_file(tmp_path, compressed):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"", mtime=0) if compressed else b"")
    with pytest.raises(MNISTDataError, match=says(path, "is empty", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_image_header_shorter_than_16_bytes(tmp_path, compressed):
    images = random_images(np.random.default_rng(RNG_SEED), 2)
    path = write_idx(tmp_path / "images.gz", images, truncate=10, gzip=compressed)
    with pytest.raises(MNISTDataError, match=says(
            path, "ends after 10 bytes", "16-byte header", "cut short", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path, 2))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_label_header_shorter_than_8_bytes(tmp_path, compressed):
    path = write_idx(tmp_path / "labels.gz", np.array([1, 2], dtype=np.uint8), truncate=6,
                     gzip=compressed)
    with pytest.raises(MNISTDataError, match=says(
            path, "ends after 6 bytes", "8-byte header", "label file", *REDOWNLOAD)):
        MNISTDataset(good_images(tmp_path, 2), path)


# -- something else saved under the MNIST name ---------------------------------------

HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
             b"<body><h1>Not Found</h1></body></html>\n")
XML_PAGE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Access Denied</Message></Error>")


@pytest.mark.parametrize("page", [HTML_PAGE, XML_PAGE, b"\n  " + HTML_PAGE, "gzipped"],
                         ids=["html", "xml", "html-after-blank-lines", "gzipped-html"])
def test_error_page_saved_as_the_image_file(tmp_path, page):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    # "gzipped": a server that compressed its error page, saved as it came
    path.write_bytes(gzip.compress(HTML_PAGE) if page == "gzipped" else page)
    with pytest.raises(MNISTDataError, match=says(path, "web page", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


def test_error_page_saved_as_the_label_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(HTML_PAGE)
    with pytest.raises(MNISTDataError, match=says(path, "web page", *REDOWNLOAD)):
        MNISTDataset(good_images(tmp_path), path)


def test_zip_archive(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("train-images-idx3-ubyte",
                         idx_bytes(random_images(np.random.default_rng(RNG_SEED), 2)))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(MNISTDataError, match=says(path, "zip archive", "extract it")):
        MNISTDataset(path, good_labels(tmp_path, 2))


def test_unrecognisable_bytes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x13\x37" * 100)
    with pytest.raises(MNISTDataError, match=says(
            path, "neither gzip-compressed nor an IDX file", "13 37 13 37", "00 00 08 03",
            *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


# -- damaged gzip data ---------------------------------------------------------------


def gzipped(content):
    return bytearray(gzip.compress(content, mtime=0))


def random_image_file_bytes(count=3):
    return idx_bytes(random_images(np.random.default_rng(RNG_SEED), count))


def compressible_image_file_bytes(count=20):
    # mostly background, like real digits: the deflate stream is Huffman-coded, not stored
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    images[:, 8:20, 10:18] = 200
    return idx_bytes(images)


def flipped(data, *positions):
    data = bytearray(data)
    for position in positions:
        data[position] ^= 0xFF
    return data


def damaged_variants():
    stored = gzipped(random_image_file_bytes())
    coded = gzipped(compressible_image_file_bytes())
    return {
        # cut short: inside the deflate data, in the 8-byte trailer, in the gzip header
        "truncated-half": stored[: len(stored) // 2],
        "truncated-trailer": stored[:-5],
        "truncated-gzip-header": stored[:6],
        # the CRC-32 in the trailer does not match the data
        "bad-crc": flipped(stored, len(stored) - 8),
        # the length in the trailer does not match the data
        "bad-length": flipped(stored, len(stored) - 2),
        # flipped bytes inside the compressed data
        "flipped-stored": flipped(stored, len(stored) // 2),
        "flipped-deflate": flipped(coded, 20, 21, 22),
        "flipped-deflate-start": flipped(coded, 10),
    }


@pytest.mark.parametrize("kind", list(damaged_variants()))
def test_damaged_gzip_says_damaged_and_to_download_again(tmp_path, kind):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(damaged_variants()[kind]))
    with pytest.raises(MNISTDataError, match=says(
            path, "damaged gzip file", "cut short or corrupted", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


def test_gzip_with_garbage_after_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(gzipped(random_image_file_bytes())) + b"<html>oops</html>")
    with pytest.raises(MNISTDataError,
                       match=says(path, "damaged gzip file", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


# -- a header that is not the one expected -------------------------------------------


def test_label_file_where_the_image_file_is_expected(tmp_path):
    labels = good_labels(tmp_path)
    with pytest.raises(MNISTDataError, match=says(
            labels, "is a label file", "2049", "an image file was expected", "swapped")):
        MNISTDataset(labels, labels)


def test_image_file_where_the_label_file_is_expected(tmp_path):
    images = good_images(tmp_path)
    with pytest.raises(MNISTDataError, match=says(
            images, "is an image file", "2051", "a label file was expected", "swapped")):
        MNISTDataset(images, images)


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_little_endian_header(tmp_path, kind):
    rng = np.random.default_rng(RNG_SEED)
    if kind == "images":
        path = write_idx(tmp_path / "images.gz", random_images(rng, 3),
                         little_endian=True)
        make = lambda: MNISTDataset(path, good_labels(tmp_path))  # noqa: E731
        found, wanted = "03 08 00 00", "00 00 08 03"
    else:
        path = write_idx(tmp_path / "labels.gz", random_labels(rng, 3),
                         little_endian=True)
        make = lambda: MNISTDataset(good_images(tmp_path), path)  # noqa: E731
        found, wanted = "01 08 00 00", "00 00 08 01"
    with pytest.raises(MNISTDataError, match=says(
            path, "little-endian byte order", found, "big-endian", wanted)):
        make()


@pytest.mark.parametrize("type_code, type_name", [(0x0D, "32-bit float"),
                                                  (0x09, "signed byte"),
                                                  (0x0C, "32-bit integer")])
def test_element_type_other_than_unsigned_byte(tmp_path, type_code, type_name):
    floats = np.zeros((2, 28, 28), dtype=">f4").tobytes()
    path = write_idx(tmp_path / "images.gz", floats, magic=0x0000_0003 | type_code << 8,
                     dims=(2, 28, 28))
    with pytest.raises(MNISTDataError, match=says(
            path, f"stores {type_name} values", f"0x{type_code:02X}", "unsigned bytes")):
        MNISTDataset(path, good_labels(tmp_path, 2))


@pytest.mark.parametrize("kind, dims", [("images", (3, 784)), ("images", (3, 28, 28, 1)),
                                        ("labels", (3, 1))])
def test_wrong_number_of_dimensions(tmp_path, kind, dims):
    payload = bytes(int(np.prod(dims)))
    path = write_idx(tmp_path / f"{kind}.gz", payload, dims=dims)
    expected = 3 if kind == "images" else 1
    with pytest.raises(MNISTDataError, match=says(
            path, f"IDX file of {len(dims)} dimensions", f"has {expected}",
            f"magic number {0x800 + expected}")):
        if kind == "images":
            MNISTDataset(path, good_labels(tmp_path))
        else:
            MNISTDataset(good_images(tmp_path), path)


def test_images_that_are_not_28_by_28(tmp_path):
    path = write_idx(tmp_path / "images.gz", np.zeros((3, 20, 20), dtype=np.uint8))
    with pytest.raises(MNISTDataError, match=says(path, "20x20 images", "784 inputs")):
        MNISTDataset(path, good_labels(tmp_path))


# -- sizes in the header that do not match the data ----------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_fewer_bytes_than_the_header_promises(tmp_path, compressed):
    images = random_images(np.random.default_rng(RNG_SEED), 3)
    path = write_idx(tmp_path / "images.gz", images, truncate=16 + 2000, gzip=compressed)
    with pytest.raises(MNISTDataError, match=says(
            path, "promises 3 images of 28 x 28 pixels, 2,352 bytes of data", "holds only 2,000",
            "cut short", *REDOWNLOAD)):
        MNISTDataset(path, good_labels(tmp_path))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_more_bytes_than_the_header_promises(tmp_path, compressed):
    images = random_images(np.random.default_rng(RNG_SEED), 3)
    path = write_idx(tmp_path / "images.gz", images, extra=b"\x00" * 5, gzip=compressed)
    with pytest.raises(MNISTDataError, match=says(
            path, "promises 3 images of 28 x 28 pixels, 2,352 bytes", "holds 5 bytes more",
            "data after its end")):
        MNISTDataset(path, good_labels(tmp_path))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_more_labels_than_the_header_promises(tmp_path, compressed):
    path = write_idx(tmp_path / "labels.gz", np.array([1, 2, 3], dtype=np.uint8),
                     dims=(2,), gzip=compressed)
    with pytest.raises(MNISTDataError, match=says(
            path, "promises 2 labels of one byte each, 2 bytes of data", "holds 1 byte more")):
        MNISTDataset(good_images(tmp_path, 2), path)


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_negative_count(tmp_path, kind):
    if kind == "images":
        path = write_idx(tmp_path / "images.gz", bytes(784), dims=(-1, 28, 28))
        make = lambda: MNISTDataset(path, good_labels(tmp_path))  # noqa: E731
    else:
        path = write_idx(tmp_path / "labels.gz", bytes(3), dims=(-3,))
        make = lambda: MNISTDataset(good_images(tmp_path), path)  # noqa: E731
    with pytest.raises(MNISTDataError, match=says(path, "negative size", "damaged")):
        make()


def test_zero_count(tmp_path):
    path = write_idx(tmp_path / "images.gz", b"", dims=(0, 28, 28))
    with pytest.raises(MNISTDataError, match=says(path, "holds no images")):
        MNISTDataset(path, good_labels(tmp_path))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
@pytest.mark.parametrize("kind", ["images", "labels"])
def test_absurd_count_is_refused_quickly_without_a_big_allocation(tmp_path, kind,
                                                                  compressed):
    huge = 2**31 - 1
    rng = np.random.default_rng(RNG_SEED)
    if kind == "images":
        path = write_idx(tmp_path / "images.gz", random_images(rng, 2),
                         dims=(huge, 28, 28), gzip=compressed)
        labels = good_labels(tmp_path, 2)
        make = lambda: MNISTDataset(path, labels)  # noqa: E731
        promise, found = f"{huge:,} images of 28 x 28 pixels, {huge * 784:,}", "1,568"
    else:
        path = write_idx(tmp_path / "labels.gz", random_labels(rng, 2), dims=(huge,),
                         gzip=compressed)
        images = good_images(tmp_path, 2)
        make = lambda: MNISTDataset(images, path)  # noqa: E731
        promise, found = f"{huge:,} labels of one byte each, {huge:,}", "2"

    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(MNISTDataError, match=says(
                path, f"promises {promise} bytes of data", f"holds only {found}",
                "cut short")):
            make()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"reading a lying header allocated {peak:,} bytes"
    assert time.perf_counter() - start < 5


# -- the values and the two files together -------------------------------------------


def test_label_outside_0_to_9(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.array([3, 9, 10, 2], dtype=np.uint8))
    with pytest.raises(MNISTDataError, match=says(
            path, "label 10 at index 2", "0 to 9")):
        MNISTDataset(good_images(tmp_path, 4), path)


def test_images_and_labels_of_different_counts(tmp_path):
    images, labels = good_images(tmp_path, 5), good_labels(tmp_path, 4)
    with pytest.raises(MNISTDataError, match=says(
            images, "holds 5 images", labels, "holds 4 labels", "same split")):
        MNISTDataset(images, labels)


# -- the scripts answer bad data and bad flags with one line and exit code 2 ---------

BAD_FOLDERS = {
    # name: (the file that is broken, what the error line must say about it)
    "web-page": (IMAGE_NAMES["train"] + ".gz", "web page"),
    "truncated-gzip": (LABEL_NAMES["test"] + ".gz", "damaged gzip file"),
    "swapped": (IMAGE_NAMES["train"] + ".gz", "swapped"),
    "missing": (IMAGE_NAMES["test"], "--download"),
    "label-out-of-range": (LABEL_NAMES["train"] + ".gz", "label 12 at index 17"),
}

BAD_FLAGS = {
    "epochs-0": (["--epochs", "0"], "--epochs"),
    "batch-size-0": (["--batch-size", "0"], "--batch-size"),
    "test-batch-size-0": (["--test-batch-size", "0"], "--test-batch-size"),
    "lr-0": (["--lr", "0"], "--lr"),
    "lr-negative": (["--lr", "-1"], "--lr"),
    "data-dir-missing": (["--data-dir", "/nonexistent"], "--data-dir"),
}


def break_folder(folder, kind):
    """Damage one file of a complete MNIST folder, the way `kind` says."""
    if kind == "web-page":
        (folder / (IMAGE_NAMES["train"] + ".gz")).write_bytes(HTML_PAGE)
    elif kind == "truncated-gzip":
        path = folder / (LABEL_NAMES["test"] + ".gz")
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "swapped":
        images = folder / (IMAGE_NAMES["train"] + ".gz")
        labels = folder / (LABEL_NAMES["train"] + ".gz")
        content = images.read_bytes()
        images.write_bytes(labels.read_bytes())
        labels.write_bytes(content)
    elif kind == "missing":
        (folder / (IMAGE_NAMES["test"] + ".gz")).unlink()
    elif kind == "label-out-of-range":
        labels = random_labels(np.random.default_rng(RNG_SEED), 120)
        labels[17] = 12
        write_idx(folder / (LABEL_NAMES["train"] + ".gz"), labels)


@pytest.fixture(scope="module")
def bad_folders(tiny_mnist, tmp_path_factory):
    """A copy of the tiny MNIST folder per kind in BAD_FOLDERS, with that damage done."""
    folders = {}
    for kind in BAD_FOLDERS:
        folders[kind] = tmp_path_factory.mktemp(f"bad-{kind}")
        shutil.copytree(tiny_mnist.path, folders[kind], dirs_exist_ok=True)
        break_folder(folders[kind], kind)
    return folders


def script_args(script, folder, output):
    index = ["7"] if script == "MNISTDataset.py" else []  # the tiny sets hold 120 and 40
    return [*index, "--data-dir", folder, "--output-dir", output, "--no-show"]


def assert_one_error_line(returncode, stderr, *parts):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert re.search(says("error", *parts), lines[0]), lines[0]


@pytest.mark.parametrize("script", ["main.py", "MNISTDataset.py"])
@pytest.mark.parametrize("kind", list(BAD_FOLDERS))
def test_main_functions_answer_bad_data_with_one_line_and_code_2(
        bad_folders, tmp_path, capsys, script, kind):
    module = main_module if script == "main.py" else dataset_module
    code = module.main([str(a) for a in script_args(script, bad_folders[kind], tmp_path)])
    broken, words = BAD_FOLDERS[kind]
    assert_one_error_line(code, capsys.readouterr().err, broken, words)


@pytest.mark.parametrize("kind", list(BAD_FLAGS))
def test_bad_flags_get_one_line_naming_the_flag_and_code_2(tmp_path, capsys, kind):
    flags, name = BAD_FLAGS[kind]
    with pytest.raises(SystemExit) as stopped:
        main_module.main([*flags, "--output-dir", str(tmp_path), "--no-show"])
    assert_one_error_line(stopped.value.code, capsys.readouterr().err, name)
    assert not (tmp_path / "history.json").exists()


# the same through the real command line, for a few of the kinds (each run costs seconds)
SCRIPT_RUNS = {
    "main.py web-page": ("main.py", "web-page"),
    "main.py truncated-gzip": ("main.py", "truncated-gzip"),
    "MNISTDataset.py swapped": ("MNISTDataset.py", "swapped"),
    "MNISTDataset.py missing": ("MNISTDataset.py", "missing"),
}


@pytest.fixture(scope="module")
def script_runs(bad_folders, tmp_path_factory):
    output = tmp_path_factory.mktemp("script-output")
    commands = {name: [script, *script_args(script, bad_folders[kind], output)]
                for name, (script, kind) in SCRIPT_RUNS.items()}
    commands["MNISTDataset.py 99999"] = ["MNISTDataset.py", "99999", "--output-dir",
                                         output, "--no-show"]
    return run_scripts(commands)


@pytest.mark.parametrize("name", list(SCRIPT_RUNS))
def test_scripts_answer_bad_data_with_one_line_and_exit_code_2(script_runs, name):
    result = script_runs[name]
    broken, words = BAD_FOLDERS[SCRIPT_RUNS[name][1]]
    assert_one_error_line(result.returncode, result.stderr, broken, words)


def test_image_index_out_of_range_gets_one_line_and_exit_code_2(script_runs):
    # python MNISTDataset.py 99999, on the real data in data/
    result = script_runs["MNISTDataset.py 99999"]
    assert_one_error_line(result.returncode, result.stderr, "99999", "out of range",
                          "60000 images")
