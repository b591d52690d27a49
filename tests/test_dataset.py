"""MNISTDataset reads IDX files right: tiny files written here, then the real data."""

import gzip
import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from conftest import DATA_DIR, IMAGE_NAMES, LABEL_NAMES, make_mnist_folder, write_idx
from MNISTDataset import (
    IMAGE_MAGIC_NUMBER,
    LABEL_MAGIC_NUMBER,
    MNISTBatch,
    MNISTDataset,
    collate_batch,
    draw_image,
    load_split,
    mnist_paths,
)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def every_byte_images(count=2):
    """`count` 28x28 images whose pixels run through 0..255 again and again."""
    return (np.arange(count * 784) % 256).astype(np.uint8).reshape(count, 28, 28)


def write_pair(folder, images, labels, gzip=True, names=("images", "labels")):
    image_path = write_idx(Path(folder) / names[0], images, gzip=gzip)
    label_path = write_idx(Path(folder) / names[1], labels, gzip=gzip)
    return image_path, label_path


# -- tiny files: values, types and shapes come out exactly ---------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_pixels_are_scaled_exactly_to_float32_in_0_1(tmp_path, compressed):
    images = every_byte_images(2)
    labels = np.array([3, 9], dtype=np.uint8)
    dataset = MNISTDataset(*write_pair(tmp_path, images, labels, gzip=compressed))

    assert dataset.images.dtype == torch.float32
    assert dataset.images.shape == (2, 784)
    flat = images.reshape(2, 784)
    assert torch.all(dataset.images[torch.from_numpy(flat == 0)] == 0.0)
    assert torch.all(dataset.images[torch.from_numpy(flat == 255)] == 1.0)
    # pixel / 255 in float32, row-major: image 0 row 0 left to right, then row 1, ...
    expected = flat.astype(np.float32) / np.float32(255)
    assert torch.equal(dataset.images, torch.from_numpy(expected))


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_labels_are_int64_with_the_values_written(tmp_path, compressed):
    labels = np.array([0, 9, 4, 4, 1, 7], dtype=np.uint8)
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    dataset = MNISTDataset(*write_pair(tmp_path, images, labels, gzip=compressed))

    assert dataset.labels.dtype == torch.int64
    assert dataset.labels.tolist() == [0, 9, 4, 4, 1, 7]


def test_gzip_is_told_apart_by_content_not_by_name(tmp_path):
    images, labels = every_byte_images(3), np.array([1, 2, 3], dtype=np.uint8)
    # gzipped data without '.gz' in the name
    gz_paths = write_pair(tmp_path, images, labels, gzip=True,
                          names=("gz-images-idx3-ubyte", "gz-labels-idx1-ubyte"))
    # uncompressed data with '.gz' in the name
    raw_paths = write_pair(tmp_path, images, labels, gzip=False,
                           names=("raw-images-idx3-ubyte.gz", "raw-labels-idx1-ubyte.gz"))
    for paths in (gz_paths, raw_paths):
        dataset = MNISTDataset(*paths)
        assert torch.equal(dataset.images * 255, torch.from_numpy(
            images.reshape(3, 784).astype(np.float32)))
        assert dataset.labels.tolist() == [1, 2, 3]


def test_len_is_a_python_int_and_items_are_image_label_pairs(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    dataset = MNISTDataset(*write_pair(tmp_path, images, labels))

    assert type(dataset.__len__()) is int
    assert len(dataset) == 5
    item = dataset[2]
    assert isinstance(item, tuple) and len(item) == 2
    image, label = item
    assert image.shape == (784,)
    assert torch.equal(image, torch.from_numpy(images[2].reshape(784) / np.float32(255)))
    assert label.dtype == torch.int64 and label.item() == 4


def test_header_attributes_are_ints_with_the_header_values(tmp_path):
    images, labels = every_byte_images(4), np.array([1, 2, 3, 4], dtype=np.uint8)
    dataset = MNISTDataset(*write_pair(tmp_path, images, labels))

    expected = {
        "image_magic_number": 2051,
        "num_images": 4,
        "image_rows": 28,
        "image_columns": 28,
        "label_magic_number": 2049,
        "num_labels": 4,
    }
    for name, value in expected.items():
        assert type(getattr(dataset, name)) is int, name
        assert getattr(dataset, name) == value, name
    assert (IMAGE_MAGIC_NUMBER, LABEL_MAGIC_NUMBER) == (0x00000803, 0x00000801)


@pytest.mark.parametrize("compressed", [True, False], ids=["gzip", "raw"])
def test_loading_and_batching_emit_no_warnings(tmp_path, compressed):
    images, labels = every_byte_images(6), np.arange(6, dtype=np.uint8)
    paths = write_pair(tmp_path, images, labels, gzip=compressed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = MNISTDataset(*paths)
        for loader in (DataLoader(dataset, batch_size=4),
                       DataLoader(dataset, batch_size=4, collate_fn=collate_batch)):
            assert sum(len(labels) for _, labels in loader) == 6


def test_drawing_a_digit_emits_no_warnings(tmp_path, capsys):
    paths = write_pair(tmp_path, every_byte_images(2), np.array([4, 2], dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        label = draw_image(*paths, 1, tmp_path / "digit.png", show=False)
    assert label == 2 and (tmp_path / "digit.png").exists()


# -- finding the files in a folder: every spelling of the names ----------------------


@pytest.mark.parametrize("dotted", [False, True], ids=["-idx", ".idx"])
@pytest.mark.parametrize("suffix", [".gz", ""], ids=["gz", "extracted"])
def test_mnist_paths_finds_every_spelling(tmp_path, dotted, suffix):
    written = {}
    for split in ("train", "test"):
        for name in (IMAGE_NAMES[split], LABEL_NAMES[split]):
            on_disk = (name.replace("-idx", ".idx") if dotted else name) + suffix
            written[name] = tmp_path / on_disk
    rng = np.random.default_rng(2)
    for split, count in (("train", 7), ("test", 3)):
        write_idx(written[IMAGE_NAMES[split]], rng.integers(0, 256, (count, 28, 28)),
                  gzip=suffix == ".gz")
        write_idx(written[LABEL_NAMES[split]], rng.integers(0, 10, count),
                  gzip=suffix == ".gz")

    assert mnist_paths(tmp_path, "train") == (written[IMAGE_NAMES["train"]],
                                              written[LABEL_NAMES["train"]])
    assert mnist_paths(tmp_path, "test") == (written[IMAGE_NAMES["test"]],
                                             written[LABEL_NAMES["test"]])
    assert len(load_split(tmp_path, "train")) == 7
    assert len(load_split(tmp_path, "test")) == 3


def test_mnist_paths_finds_gz_and_extracted_files_mixed(tmp_path):
    made = make_mnist_folder(tmp_path, n_train=6, n_test=4)
    # extract one of the four files, as a user unpacking by hand would
    image_gz = tmp_path / (IMAGE_NAMES["test"] + ".gz")
    (tmp_path / IMAGE_NAMES["test"]).write_bytes(gzip.decompress(image_gz.read_bytes()))
    image_gz.unlink()

    images_path, labels_path = mnist_paths(tmp_path, "test")
    assert images_path.name == IMAGE_NAMES["test"]
    assert labels_path.name == LABEL_NAMES["test"] + ".gz"
    assert load_split(tmp_path, "test").labels.tolist() == made.test_labels.tolist()


# -- batches fetched in one step equal batches fetched image by image ----------------


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """23 images whose first pixel is their index: a batch tells which images it holds."""
    folder = tmp_path_factory.mktemp("numbered")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(23, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(23)
    labels = rng.integers(0, 10, 23).astype(np.uint8)
    return MNISTDataset(*write_pair(folder, images, labels)), labels


def indices_of(batch_images):
    return [round(v) for v in (batch_images[:, 0] * 255).tolist()]


def test_getitems_and_collate_batch_match_per_item_default_collation(numbered):
    dataset, _ = numbered
    for indices in ([0], [5, 1, 22, 1, 0], list(range(23)), [22, 21, 3]):
        batch = dataset.__getitems__(indices)
        assert isinstance(batch, MNISTBatch)
        fast_images, fast_labels = collate_batch(batch)
        slow_images, slow_labels = default_collate([dataset[i] for i in indices])
        assert torch.equal(fast_images, slow_images)
        assert torch.equal(fast_labels, slow_labels)
        assert fast_labels.dtype == slow_labels.dtype == torch.int64
        assert indices_of(fast_images) == indices


def test_dataloader_with_the_default_collate_fn_still_gives_right_batches(numbered):
    dataset, labels = numbered
    batches = list(DataLoader(dataset, batch_size=5))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    for images, batch_labels in batches:
        assert images.shape == (len(batch_labels), 784) and images.dtype == torch.float32
    assert torch.equal(torch.cat([b[0] for b in batches]), dataset.images)
    assert torch.cat([b[1] for b in batches]).tolist() == labels.tolist()


def test_shuffled_loaders_agree_and_every_label_stays_with_its_image(numbered):
    dataset, labels = numbered

    def batches(collate_fn):
        generator = torch.Generator().manual_seed(7)
        kwargs = {} if collate_fn is None else {"collate_fn": collate_fn}
        return list(DataLoader(dataset, batch_size=6, shuffle=True, generator=generator,
                               **kwargs))

    default, fast = batches(None), batches(collate_batch)
    assert len(default) == len(fast) == 4
    seen = []
    for (images, batch_labels), (fast_images, fast_labels) in zip(default, fast):
        assert torch.equal(images, fast_images) and torch.equal(batch_labels, fast_labels)
        order = indices_of(images)
        assert batch_labels.tolist() == labels[order].tolist()
        seen += order
    assert sorted(seen) == list(range(23)) and seen != list(range(23))


# -- the real MNIST files: the known facts from data/mnist/README.md -----------------

README_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
README_FACTS = {
    "train": {
        "count": 60000,
        "histogram": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
        "first_ten": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
        "mean_std": (0.1307, 0.3081),
    },
    "test": {
        "count": 10000,
        "histogram": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        "first_ten": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
        "mean_std": (0.1325, 0.3105),
    },
}


@pytest.fixture(scope="module")
def real():
    """The real training and test sets, loaded once for this module."""
    return {split: load_split(DATA_DIR, split) for split in ("train", "test")}


def test_real_files_are_the_original_mnist_content():
    # tells a damaged data/ folder apart from a loader bug when the tests below fail
    for name, digest in README_SHA256.items():
        with gzip.open(DATA_DIR / name) as file:
            assert hashlib.sha256(file.read()).hexdigest() == digest, name


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_counts_sizes_and_magic_numbers(real, split):
    dataset = real[split]
    count = README_FACTS[split]["count"]
    assert len(dataset) == dataset.num_images == dataset.num_labels == count
    assert (dataset.image_rows, dataset.image_columns) == (28, 28)
    assert (dataset.image_magic_number, dataset.label_magic_number) == (2051, 2049)
    assert dataset.images.shape == (count, 784) and dataset.labels.shape == (count,)


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_label_histogram_and_first_labels(real, split):
    labels = real[split].labels
    facts = README_FACTS[split]
    assert sum(facts["histogram"]) == facts["count"]
    assert torch.bincount(labels, minlength=10).tolist() == facts["histogram"]
    assert labels[:10].tolist() == facts["first_ten"]


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_pixel_range_mean_and_std(real, split):
    images = real[split].images
    assert images.min().item() == 0.0 and images.max().item() == 1.0
    mean, std = README_FACTS[split]["mean_std"]
    as_double = images.double()
    assert round(as_double.mean().item(), 4) == mean
    assert round(as_double.std().item(), 4) == std


def test_fashion_mnist_loads_too(tmp_path):
    # the same format with other pictures: 60000/10000 images, 6000/1000 of each class
    if not FASHION_DIR.is_dir():
        pytest.skip(f"no Fashion-MNIST at {FASHION_DIR}")
    train, test = load_split(FASHION_DIR, "train"), load_split(FASHION_DIR, "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert torch.bincount(train.labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    assert train.images.shape == (60000, 784) and 0.0 <= train.images.min()
    assert train.images.max() <= 1.0
