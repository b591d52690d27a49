"""The MNIST files as a PyTorch Dataset.

MNIST comes as four files in the IDX format, usually gzip-compressed:

    train-images-idx3-ubyte   60,000 training images    train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    10,000 test images        t10k-labels-idx1-ubyte

An IDX file is a short header followed by the data, one unsigned byte per value:

    bytes 0-1   always zero
    byte  2     element type: 0x08 means unsigned byte (the only type read here)
    byte  3     number of dimensions: 3 for images, 1 for labels
    then        one 32-bit big-endian integer per dimension

So the magic number (bytes 0-3 read as one big-endian integer) is 2051 (0x00000803) for
an image file and 2049 (0x00000801) for a label file. An image file's header is 16 bytes
(magic, count, rows, columns); a label file's is 8 (magic, count). After the header come
the values in row-major order: image 0 row 0 left to right, then row 1, and so on, each
pixel 0 (background) to 255 (ink); or one byte per label, 0 to 9.

Run it to see a digit and its label:

    python MNISTDataset.py                  # digit 500 of the training and test sets
    python MNISTDataset.py 7 --data-dir data --no-show

Every check below raises MNISTDataError, a ValueError whose message names the file, what
was expected, what was found and what to do about it.
"""

from torch.utils.data import Dataset
import gzip
import numpy as np
import torch
import matplotlib.pyplot as plt

import argparse
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import default_collate
from PIL import Image, ImageOps, UnidentifiedImageError


IMAGE_MAGIC_NUMBER = 2051
LABEL_MAGIC_NUMBER = 2049
IMAGE_SIZE = 28  # the network takes 28 x 28 = 784 inputs
NUM_CLASSES = 10

# the names of the ten classes, for plots and predictions: MNIST's digits, or the ten
# kinds of clothing of Fashion-MNIST (the same file format, the same 28 x 28 grey images)
DIGIT_CLASSES = [str(digit) for digit in range(NUM_CLASSES)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                   "Shirt", "Sneaker", "Bag", "Ankle boot"]
CLASS_SETS = {"digits": DIGIT_CLASSES, "fashion": FASHION_CLASSES}

# the four files, by split; each name may also appear as 'train-images.idx3-ubyte', the
# form some extraction tools produce, and with or without '.gz'
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "16-bit integer",
    0x0C: "32-bit integer",
    0x0D: "32-bit float",
    0x0E: "64-bit float",
}

# the data folder that comes with the scripts, wherever they are run from
DEFAULT_DATA_DIR = Path(__file__).resolve().parent / "data"

READ_BLOCK = 1 << 22  # bytes read at a time, so that a lying header allocates nothing big

REDOWNLOAD = "delete it and fetch it again (--download), or copy a good one in its place"


class MNISTDataError(ValueError):
    """A data file that is missing, damaged, or not what it should be."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag gets a single line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see python {self.prog} --help)\n")


class MNISTDataset(Dataset):
    """One split of MNIST: the images and labels of two IDX files.

    Args:
        image_data_root: path of the images file (gzipped or not).
        label_data_root: path of the labels file (gzipped or not).

    After loading, `images` is a float32 tensor of shape (N, 784) with values in [0, 1]
    (pixel / 255) and `labels` an int64 tensor of shape (N,) with values 0 to 9.
    """

    def __init__(self, image_data_root, label_data_root):
        # variables for the image set
        self.image_data_root = image_data_root
        self.image_magic_number = 0
        self.num_images = 0
        self.image_rows = 0
        self.image_columns = 0
        self.images = torch.empty(0)

        # variables for the labels
        self.label_data_root = label_data_root
        self.label_magic_number = 0
        self.num_labels = 0
        self.labels = torch.empty(0, dtype=torch.long)

        # functions that read the two files
        self.image_init_dataset()
        self.label_init_dataset()

        if self.num_images != self.num_labels:
            raise MNISTDataError(
                f"'{image_data_root}' holds {self.num_images} images but "
                f"'{label_data_root}' holds {self.num_labels} labels: every image needs "
                "one label, so check that both files are of the same split (train or "
                "t10k)"
            )

    def __len__(self):
        return self.num_images

    def __getitem__(self, idx):
        return self.images[idx], self.labels[idx]

    def __getitems__(self, indices):
        # The DataLoader calls this, when it exists, with the indices of a whole batch.
        # One indexing step per batch instead of one per image: the same values as
        # __getitem__ fetched one at a time, at a fraction of the cost.
        indices = torch.as_tensor(indices, dtype=torch.long)
        return MNISTBatch(self.images[indices], self.labels[indices])

    def image_init_dataset(self):
        """Read the images file into `images`, an (N, 784) float32 tensor in [0, 1]."""
        header, pixels = read_idx(self.image_data_root, "images")
        (self.image_magic_number, self.num_images,
         self.image_rows, self.image_columns) = header

        # one conversion to float32, then scaled in place: 0 -> 0.0 and 255 -> 1.0 exactly
        images = torch.from_numpy(np.frombuffer(pixels, dtype=np.uint8))
        self.images = images.to(torch.float32).div_(255).view(self.num_images, -1)

    def label_init_dataset(self):
        """Read the labels file into `labels`, an (N,) int64 tensor of digits 0 to 9."""
        header, values = read_idx(self.label_data_root, "labels")
        self.label_magic_number, self.num_labels = header

        labels = np.frombuffer(values, dtype=np.uint8)
        if labels.size and labels.max() >= NUM_CLASSES:
            bad = int(np.argmax(labels >= NUM_CLASSES))
            raise MNISTDataError(
                f"'{self.label_data_root}' holds the label {labels[bad]} at index {bad}; "
                f"labels must be classes 0 to {NUM_CLASSES - 1}: this is not a file of "
                "MNIST-style labels"
            )
        # CrossEntropyLoss wants its targets as int64 ('long')
        self.labels = torch.from_numpy(labels.astype(np.int64))


class MNISTBatch(Sequence):
    """A batch fetched in one step: `images` (B, 784) and `labels` (B,).

    It is also a sequence of (image, label) pairs, so torch's default collation still
    builds the right batch from it (slowly); `collate_batch` hands the two tensors on as
    they are.
    """

    def __init__(self, images, labels):
        self.images = images
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def collate_batch(batch):
    """DataLoader collate_fn: pass a fetched MNISTBatch through, collate anything else."""
    if isinstance(batch, MNISTBatch):
        return [batch.images, batch.labels]
    return default_collate(batch)


# -- reading and checking one IDX file -----------------------------------------------


def read_idx(path, kind):
    """Check and read one IDX file of `kind` ('images' or 'labels').

    Returns the header as a tuple of ints (magic, count[, rows, columns]) and the data as
    a bytearray, after checking everything the header claims against the file itself.
    """
    path = Path(path)
    want = "an image file" if kind == "images" else "a label file"
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            if not compressed:
                size = os.fstat(raw.fileno()).st_size
                return _read_idx_stream(raw, path, kind, want, size)
            with gzip.GzipFile(fileobj=raw) as stream:
                try:
                    return _read_idx_stream(stream, path, kind, want, None)
                except (EOFError, gzip.BadGzipFile, zlib.error) as error:
                    raise MNISTDataError(
                        f"'{path}' is a damaged gzip file ({error}): the download was "
                        f"probably cut short or corrupted; {REDOWNLOAD}"
                    ) from None
    except FileNotFoundError:
        raise MNISTDataError(
            f"the {kind} file '{path}' does not exist: check the path, or fetch the "
            "MNIST files with --download"
        ) from None
    except IsADirectoryError:
        raise MNISTDataError(f"'{path}' is a folder, but {want} was expected") from None
    except PermissionError:
        raise MNISTDataError(
            f"'{path}' cannot be read (permission denied): check the file's permissions"
        ) from None


def _read_idx_stream(stream, path, kind, want, file_size):
    header_size = 16 if kind == "images" else 8
    start = _read_up_to(stream, header_size)
    if len(start) == 0:
        raise MNISTDataError(f"'{path}' is empty, but {want} was expected; {REDOWNLOAD}")
    _check_magic(start, path, kind, want, compressed=file_size is None)
    if len(start) < header_size:
        raise MNISTDataError(
            f"'{path}' ends after {len(start)} bytes, inside the {header_size}-byte "
            f"header of {want}: the file is cut short; {REDOWNLOAD}"
        )

    header = tuple(int(v) for v in np.frombuffer(bytes(start), dtype=">i4"))
    sizes = header[1:]
    if any(s < 0 for s in sizes):
        raise MNISTDataError(
            f"'{path}' has a negative size in its header ({', '.join(map(str, sizes))}): "
            f"the file is damaged; {REDOWNLOAD}"
        )
    if kind == "images" and sizes[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise MNISTDataError(
            f"'{path}' holds {sizes[1]}x{sizes[2]} images; the network takes "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} = {IMAGE_SIZE * IMAGE_SIZE} inputs, so only "
            f"{IMAGE_SIZE}x{IMAGE_SIZE} images can be used"
        )
    if sizes[0] == 0:
        raise MNISTDataError(f"'{path}' holds no {kind} (its header says 0)")
    expected = int(np.prod(sizes))

    # Compare the header's promise with the file before reading the data: for a plain
    # file its length says it at once; for gzip data the blocks read stop one byte past
    # the promise, so a lying header never makes us allocate more than the file holds.
    if file_size is not None and file_size != header_size + expected:
        found = file_size - header_size
        _raise_size_mismatch(path, kind, sizes, expected, found)
    data = _read_up_to(stream, expected + 1)
    if len(data) != expected:
        found = len(data) if len(data) <= expected else len(data) + _count_rest(stream)
        _raise_size_mismatch(path, kind, sizes, expected, found)
    return header, data


def _check_magic(start, path, kind, want, compressed=False):
    """Explain a first four bytes that are not the magic number of `kind`."""
    ndim = 3 if kind == "images" else 1
    right = IMAGE_MAGIC_NUMBER if kind == "images" else LABEL_MAGIC_NUMBER
    right = right.to_bytes(4, "big")  # 00 00 08 03 or 00 00 08 01
    magic = bytes(start[:4])
    if right.startswith(magic):
        return  # the right magic number (or the start of it, in a cut-short header)
    lead = bytes(start).lstrip()
    if kind == "images" and magic == LABEL_MAGIC_NUMBER.to_bytes(4, "big"):
        found = f"a label file (magic number {LABEL_MAGIC_NUMBER})"
    elif kind == "labels" and magic == IMAGE_MAGIC_NUMBER.to_bytes(4, "big"):
        found = f"an image file (magic number {IMAGE_MAGIC_NUMBER})"
    else:
        found = None
    if found:
        raise MNISTDataError(
            f"'{path}' is {found}, but {want} was expected here: the image and label "
            "files look swapped"
        )
    if magic[1:] == b"\x08\x00\x00":
        raise MNISTDataError(
            f"'{path}' has its header in little-endian byte order ({magic.hex(' ')}); "
            f"IDX headers are big-endian ({right.hex(' ')}): the file "
            "was written by a tool that got the byte order wrong"
        )
    if lead[:1] == b"<" or lead[:9].lower() == b"<!doctype":
        raise MNISTDataError(
            f"'{path}' is a web page (it starts with {bytes(lead[:15])!r}), not MNIST "
            f"data: a failed download saved an error page in its place; {REDOWNLOAD}"
        )
    if magic[:2] == b"PK":
        raise MNISTDataError(
            f"'{path}' is a zip archive, not an IDX file: extract it first and point to "
            "the files inside"
        )
    if len(magic) == 4 and magic[:2] == b"\x00\x00" and magic[3] == ndim:
        type_name = IDX_TYPES.get(magic[2], "an unknown type")
        raise MNISTDataError(
            f"'{path}' stores {type_name} values (type code 0x{magic[2]:02X}); this "
            "loader reads unsigned bytes (0x08) only, as MNIST uses"
        )
    if len(magic) == 4 and magic[:2] == b"\x00\x00" and magic[2] in IDX_TYPES:
        raise MNISTDataError(
            f"'{path}' is an IDX file of {magic[3]} dimensions, but {want} has {ndim} "
            f"(magic number {int.from_bytes(right, 'big')})"
        )
    if compressed:
        what = "is gzip-compressed, but what it holds is not an IDX file (it starts with"
    else:
        what = "is neither gzip-compressed nor an IDX file (it starts with"
    raise MNISTDataError(
        f"'{path}' {what} {magic.hex(' ') or 'nothing'}; {want} starts with "
        f"{right.hex(' ')}); {REDOWNLOAD}"
    )


def _raise_size_mismatch(path, kind, sizes, expected, found):
    if kind == "images":
        shape = f"{sizes[0]:,} images of {sizes[1]} x {sizes[2]} pixels"
    else:
        shape = f"{sizes[0]:,} labels of one byte each"
    if found < expected:
        problem = f"holds only {found:,}: the file is cut short"
    else:
        extra = found - expected
        problem = (f"holds {extra:,} byte{'s' if extra != 1 else ''} more: the file has "
                   "data after its end")
    raise MNISTDataError(
        f"'{path}' has a header that promises {shape}, {expected:,} bytes of data, "
        f"but the file {problem}; {REDOWNLOAD}"
    )


def _read_up_to(stream, size):
    """Read at most `size` bytes, in blocks, stopping early at the end of the stream."""
    data = bytearray()
    while len(data) < size:
        block = stream.read(min(READ_BLOCK, size - len(data)))
        if not block:
            break
        data += block
    if len(data) < size:
        stream.read(1)  # at the end: lets gzip check its length and checksum
    return data


def _count_rest(stream):
    count = 0
    while block := stream.read(READ_BLOCK):
        count += len(block)
    return count


# -- finding the files in a folder ---------------------------------------------------


def file_candidates(name):
    """The names a file may have on disk: gzipped or extracted, '-idx' or '.idx'."""
    dotted = name.replace("-idx", ".idx")
    return [name + ".gz", name, dotted + ".gz", dotted]


def mnist_paths(data_dir, split):
    """Return (images path, labels path) of `split` ('train' or 'test') in `data_dir`."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        problem = "is a file, not a folder" if data_dir.exists() else "does not exist"
        raise MNISTDataError(
            f"the data folder {describe_folder(data_dir)} {problem}: pass the folder "
            "that holds the MNIST files with --data-dir, or create it and fetch them "
            "with --download"
        )
    paths = []
    for name, what in zip(MNIST_FILES[split], ("images", "labels")):
        found = [data_dir / c for c in file_candidates(name) if (data_dir / c).is_file()]
        folders = [data_dir / c for c in file_candidates(name) if (data_dir / c).is_dir()]
        if not found and folders:
            raise MNISTDataError(
                f"'{folders[0]}' is a folder, but the {what} file of that name was "
                "expected: if an extraction tool made it, the file is probably inside; "
                "move it up into the data folder"
            )
        if not found:
            present = sorted(p.name for p in data_dir.iterdir())
            holds = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "")
            raise MNISTDataError(
                f"no {'training' if split == 'train' else 'test'} {what} file in "
                f"'{data_dir}' (looked for {', '.join(file_candidates(name))}; the "
                f"folder {'holds ' + holds if present else 'is empty'}): fetch the MNIST "
                "files with --download, or copy them there (see the README)"
            )
        paths.append(found[0])
    return tuple(paths)


def describe_folder(folder):
    """'data' (that is /home/me/data): a relative folder and where it really points."""
    folder = Path(folder)
    if folder.is_absolute():
        return f"'{folder}'"
    return f"'{folder}' (that is {folder.resolve()})"


def make_output_dir(folder):
    """Create the output folder if needed; raise MNISTDataError when it cannot be."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise MNISTDataError(
            f"--output-dir {describe_folder(folder)} cannot be a folder: it, or a folder "
            "above it, is a file; pass another --output-dir"
        ) from None
    except OSError as error:
        raise MNISTDataError(
            f"--output-dir {describe_folder(folder)} cannot be created "
            f"({error.strerror}); pass another --output-dir"
        ) from None
    return folder


def load_split(data_dir, split):
    """The MNISTDataset of one split ('train' or 'test') found in `data_dir`."""
    return MNISTDataset(*mnist_paths(data_dir, split))


# -- your own pictures in MNIST's form -----------------------------------------------

# How MNIST's digits were made: each digit's ink was scaled to fit a 20 x 20 box, keeping
# its proportions (which left grey edges), then placed in the 28 x 28 image so that its
# centre of mass lands in the middle. Measured over the training set, that centre of mass
# is at row 14, column 14 (0-based, give or take 0.3 px): pictures are centred there too.
DIGIT_BOX = 20
DIGIT_CENTRE = 14.0
INK_THRESHOLD = 0.3  # after stretching: brighter than this counts as ink for the crop
PAPER_NOISE = 0.1  # ... and darker than this is the paper's grain, set to 0
MIN_CONTRAST = 0.1  # less difference than this between paper and ink means no ink


def prepare_digit_image(path):
    """Turn an ordinary picture of one digit into a network input, the way MNIST did it.

    The picture may be any size and any file Pillow reads (PNG, JPG, ...), in colour or
    grey, dark ink on light paper or light ink on dark. The steps:

        1. make it grey (transparent parts take the paper's colour)
        2. invert it if the paper is lighter than the ink: MNIST's background is black
        3. stretch the contrast, so the paper becomes 0 and the brightest ink 1
        4. crop it to the bounding box of the ink
        5. scale it to fit 20 x 20, keeping its proportions
        6. paste it into a black 28 x 28 image with its centre of mass at the centre

    Returns a float32 tensor of 784 values in [0, 1], like one row of
    MNISTDataset.images. Raises MNISTDataError for a file that is not a readable picture
    or a picture with no ink (all one colour).
    """
    pixels = _read_picture(path)  # 2-D, 0.0 = black to 1.0 = white

    # 2. the border is mostly paper and the ink is mostly inside, so a border whose
    # median is lighter than the picture's average means dark ink on light paper
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if np.median(border) > pixels.mean():
        pixels = 1.0 - pixels
        border = 1.0 - border

    # 3. stretch: the paper's level goes to 0, the brightest ink to 1
    paper, ink = np.median(border), pixels.max()
    if ink - paper < MIN_CONTRAST:
        raise MNISTDataError(
            f"'{path}' has no ink to read: the picture is all one colour (or nearly); "
            "expected one digit drawn darker or lighter than its background"
        )
    pixels = np.clip((pixels - paper) / (ink - paper), 0.0, 1.0)
    pixels[pixels < PAPER_NOISE] = 0.0

    # 4. crop to the rows and columns that hold ink
    rows = np.flatnonzero((pixels > INK_THRESHOLD).any(axis=1))
    columns = np.flatnonzero((pixels > INK_THRESHOLD).any(axis=0))
    pixels = pixels[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]

    # 5. scale the longer side to 20 pixels; BOX averages the pixels it shrinks together
    # (the grey edges MNIST has), LANCZOS keeps an enlarged one smooth
    height, width = pixels.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.BOX if scale < 1 else Image.LANCZOS
    digit = Image.fromarray(pixels.astype(np.float32)).resize(size, resample)
    digit = np.clip(np.asarray(digit), 0.0, 1.0)  # LANCZOS can overshoot a little

    # 6. shift by the centre-of-mass offset; a very lopsided digit is kept whole instead
    height, width = digit.shape
    centre_row = (digit.sum(axis=1) * np.arange(height)).sum() / digit.sum()
    centre_column = (digit.sum(axis=0) * np.arange(width)).sum() / digit.sum()
    top = min(max(round(DIGIT_CENTRE - centre_row), 0), IMAGE_SIZE - height)
    left = min(max(round(DIGIT_CENTRE - centre_column), 0), IMAGE_SIZE - width)
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    image[top:top + height, left:left + width] = digit
    return torch.from_numpy(image).view(-1)


def _read_picture(path):
    """Open a picture with Pillow; return it as a 2-D float array, 0 black to 1 white."""
    path = Path(path)
    try:
        with Image.open(path) as picture:
            picture.load()  # decode it all now, so that a damaged file fails here
            picture = ImageOps.exif_transpose(picture)  # a phone photo, turned upright
            return _grey_levels(picture)
    except FileNotFoundError:
        raise MNISTDataError(
            f"the picture '{path}' does not exist: check the path"
        ) from None
    except IsADirectoryError:
        raise MNISTDataError(
            f"'{path}' is a folder, but a picture (PNG, JPG, ...) was expected"
        ) from None
    except PermissionError:
        raise MNISTDataError(
            f"'{path}' cannot be read (permission denied): check the file's permissions"
        ) from None
    except UnidentifiedImageError:
        raise MNISTDataError(
            f"'{path}' is not a picture: expected a PNG, JPG or other image file, found "
            f"{describe_start(path)}"
        ) from None
    except Image.DecompressionBombError:
        raise MNISTDataError(
            f"'{path}' is too large a picture to open safely: make it smaller first"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise MNISTDataError(
            f"'{path}' could not be read as a picture ({error}): the file is probably "
            "damaged or cut short; save or export it again as PNG or JPG"
        ) from None


def _grey_levels(picture):
    """The picture's grey levels in [0, 1] (0 = black), whatever its colour mode."""
    if picture.mode in ("I", "F") or picture.mode.startswith("I;16"):
        # 16- or 32-bit grey: any range will do, the contrast is stretched later
        values = np.asarray(picture, dtype=np.float32)
        low, high = values.min(), values.max()
        return (values - low) / (high - low) if high > low else np.zeros_like(values)

    if "A" not in picture.getbands() and "transparency" not in picture.info:
        return np.asarray(picture.convert("L"), dtype=np.float32) / 255

    # Transparent parts have no colour of their own: give them the paper's colour, the
    # opposite of the ink's (the opaque pixels' median: ink alone on a clear background)
    picture = picture.convert("RGBA")
    grey = np.asarray(picture.convert("L"), dtype=np.float32) / 255
    opacity = np.asarray(picture.getchannel("A"), dtype=np.float32) / 255
    opaque = grey[opacity > 0.5]
    if opaque.size == 0:
        return np.zeros_like(grey)  # nothing visible at all: found empty later
    paper = 1.0 if np.median(opaque) < 0.5 else 0.0
    return grey * opacity + paper * (1 - opacity)


def describe_start(path, size=16):
    """Say what a file starts with, for error messages: nothing, text, or which bytes."""
    with open(path, "rb") as file:
        start = file.read(size)
    if not start:
        return "an empty file"
    if all(32 <= byte < 127 or byte in b"\t\n\r" for byte in start):
        return f"text starting with {start.decode('ascii')!r}"
    return f"data starting with the bytes {start[:8].hex(' ')}"


# -- drawing a digit -----------------------------------------------------------------


def display_available():
    """True when matplotlib can open a window (it falls back to Agg when it cannot)."""
    backend = plt.get_backend().lower()
    return backend not in {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def draw_image(images_root, labels_root, image_idx, output_path=None, show=None,
               mnist=None):
    """Print one digit's size and label, and draw it.

    The figure is saved as a PNG at `output_path` when one is given, and shown in a
    window when `show` is true (by default: when there is a display). `mnist` may be the
    dataset of these two files, already loaded. Returns the label.
    """
    if mnist is None:
        mnist = MNISTDataset(images_root, labels_root)
    if not -len(mnist) <= image_idx < len(mnist):
        raise IndexError(
            f"image index {image_idx} is out of range: '{images_root}' holds "
            f"{len(mnist)} images (0 to {len(mnist) - 1})"
        )
    image, label = mnist[image_idx]
    image = image.view(mnist.image_rows, mnist.image_columns)
    print(f"Image dimensions: {image.shape[0]}x{image.shape[1]}")
    print(f"Label: {label.item()}")

    figure, axes = plt.subplots(figsize=(3, 3))
    axes.imshow(image.numpy(), cmap="gray")
    axes.set_title(f"{Path(images_root).name} [{image_idx}]: label {label.item()}",
                   fontsize=8)
    axes.axis("off")
    if output_path is not None:
        Path(output_path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(output_path, dpi=100, bbox_inches="tight")
        print(f"Saved {output_path}")
    if display_available() if show is None else show:
        plt.show()
    plt.close(figure)
    return label.item()


def add_data_arguments(parser, saved):
    """The flags both scripts share: where the data is, where `saved` goes, and so on."""
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder with the four MNIST files (default: the data "
                        "folder beside this script)")
    parser.add_argument("--output-dir", default="results",
                        help=f"where {saved} go (default: results)")
    parser.add_argument("--no-show", action="store_true",
                        help="never open a window, only save the pictures (default: "
                        "show them when there is a display)")
    parser.add_argument("--download", action="store_true",
                        help="fetch the MNIST files that are missing from --data-dir "
                        "first (default: off)")


def fetch_missing_files(data_dir):
    """For --download: fetch what is missing. On failure say why and return False."""
    from download import DownloadError, download_mnist  # only when asked for

    try:
        download_mnist(data_dir)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def image_index(text):
    """The index argument: a whole number, 0 or more."""
    try:
        index = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}") from None
    if index < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {index}")
    return index


def parse_args(argv=None):
    parser = OneLineParser(
        prog="MNISTDataset.py",
        description="Draw one digit of the MNIST training set and one of the test set, "
        "with their labels."
    )
    parser.add_argument("index", nargs="?", type=image_index, default=500,
                        help="which image to draw, from 0 up to one less than the size "
                        "of the smaller set (9999 for MNIST's test set) (default: 500)")
    add_data_arguments(parser, "the pictures of the digits")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    show = display_available() and not args.no_show
    try:
        make_output_dir(args.output_dir)
        if args.download and not fetch_missing_files(args.data_dir):
            return 1
        paths = {split: mnist_paths(args.data_dir, split) for split in ("train", "test")}
        datasets = {split: MNISTDataset(*paths[split]) for split in paths}
        # check the index against both sets before drawing anything
        for split, mnist in datasets.items():
            if args.index >= len(mnist):
                raise IndexError(
                    f"image index {args.index} is out of range: the {split} set "
                    f"('{mnist.image_data_root}') holds {len(mnist)} images (0 to "
                    f"{len(mnist) - 1})")
        for split, (images_root, labels_root) in paths.items():
            name = "Training" if split == "train" else "Test"
            print(f"{name} set, image {args.index}:")
            output_path = Path(args.output_dir) / f"digit-{split}-{args.index}.png"
            draw_image(images_root, labels_root, args.index, output_path, show,
                       datasets[split])
    except (MNISTDataError, IndexError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
