"""The two scripts run from a terminal without a display (no MPLBACKEND, no DISPLAY)."""

import gzip
import json
import re

import matplotlib.image
import numpy as np
import pytest
from PIL import Image

import main as main_module
import MNISTDataset as dataset_module
from conftest import DATA_DIR, LABEL_NAMES, PNG_SIGNATURE, run_scripts

HISTORY_LISTS = ("train_losses", "train_counter", "test_losses", "test_accuracy",
                 "test_counter")


def real_label(split, index):
    """A label of the real data, read straight from the file, not through MNISTDataset."""
    with gzip.open(DATA_DIR / (LABEL_NAMES[split] + ".gz")) as file:
        return file.read()[8 + index]


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 50 and image.size[1] > 50
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and np.ptp(pixels) > 0  # not a blank picture


@pytest.fixture(scope="module")
def runs(tiny_mnist, tmp_path_factory):
    """Each command line below, run once for this module (headless); by name."""
    out = {name: tmp_path_factory.mktemp(name) for name in ("dry", "digits", "tiny")}
    commands = {
        "dry": ["main.py", "--dry-run", "--output-dir", out["dry"]],
        "digits": ["MNISTDataset.py", "--output-dir", out["digits"]],
        "tiny": ["MNISTDataset.py", "7", "--data-dir", tiny_mnist.path, "--output-dir",
                 out["tiny"]],
    }
    results = run_scripts(commands)
    # a dry run writes into a dry-run folder inside --output-dir, never over a real run
    out["dry"] = out["dry"] / "dry-run"
    return {name: (result, out.get(name)) for name, result in results.items()}


def assert_clean_exit(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


# -- python main.py --dry-run: the tutorial's lines, the history and the two plots ---


def test_dry_run_prints_the_tutorial_lines(runs):
    result, _ = runs["dry"]
    assert_clean_exit(result)
    assert "Train Epoch: 1 [0/60000 (0%)]\tLoss: " in result.stdout
    assert re.search(r"Test set: Avg\. loss: \d+\.\d{4}, Accuracy: \d+/10000 "
                     r"\(\d+\.\d\d%\)", result.stdout)


def test_dry_run_writes_history_json_with_the_five_lists(runs):
    result, out = runs["dry"]
    assert_clean_exit(result)
    history = json.loads((out / "history.json").read_text())
    for name in HISTORY_LISTS:
        assert isinstance(history[name], list), name
    # one training batch of 50, then one test pass
    assert history["train_counter"] == [0] and len(history["train_losses"]) == 1
    assert history["test_counter"] == [50]
    assert len(history["test_losses"]) == len(history["test_accuracy"]) == 1


@pytest.mark.parametrize("name", ["losses.png", "accuracy.png"])
def test_dry_run_writes_valid_pngs(runs, name):
    result, out = runs["dry"]
    assert_clean_exit(result)
    assert_png(out / name)


# -- python MNISTDataset.py: digit 500 of both sets, printed and drawn ---------------


def test_dataset_script_prints_size_and_labels_of_digit_500(runs):
    result, out = runs["digits"]
    assert_clean_exit(result)
    lines = result.stdout.splitlines()
    assert lines.count("Image dimensions: 28x28") == 2
    labels = [line for line in lines if line.startswith("Label: ")]
    assert labels == [f"Label: {real_label('train', 500)}",
                      f"Label: {real_label('test', 500)}"]
    for split in ("train", "test"):
        assert_png(out / f"digit-{split}-500.png")


def test_dataset_script_draws_any_index_of_another_folder(runs, tiny_mnist):
    result, out = runs["tiny"]
    assert_clean_exit(result)
    labels = [line for line in result.stdout.splitlines() if line.startswith("Label: ")]
    assert labels == [f"Label: {tiny_mnist.train_labels[7]}",
                      f"Label: {tiny_mnist.test_labels[7]}"]
    for split in ("train", "test"):
        assert_png(out / f"digit-{split}-7.png")


# -- --help shows every flag with its default ----------------------------------------


def help_entries(text):
    """{option: its help text} from argparse's --help output."""
    entries, current = {}, None
    for line in text.splitlines():
        match = re.match(r"  (-{1,2}[\w-]+|[a-z][\w-]*)(,| |$)", line)
        if match:
            current = match.group(1)
            entries[current] = line
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return {name: re.sub(r"\s+", " ", text) for name, text in entries.items()}


MAIN_FLAGS = {
    "--data-dir": "the data folder beside this script", "--epochs": "25", "--batch-size": "50",
    "--test-batch-size": "1000", "--lr": "0.2", "--momentum": "0.9", "--seed": "1",
    "--log-interval": "100", "--output-dir": "results", "--no-show": None,
    "--save-model": None, "--dry-run": None, "--device": "auto", "--download": None,
}
DATASET_FLAGS = {"--data-dir": "the data folder beside this script", "--output-dir": "results", "--no-show": None,
                 "--download": None}


def help_text(parse_args, capsys):
    """What `python <script> --help` prints: its parse_args(["--help"]), run here."""
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--help"])
    assert stopped.value.code in (0, None)
    return capsys.readouterr().out


def check_help(text, flags):
    entries = help_entries(text)
    assert set(flags) <= set(entries), sorted(set(flags) - set(entries))
    for name, text in entries.items():
        if name in ("-h", "--help"):
            continue
        assert "(default:" in text, f"{name} does not show its default: {text}"
        if flags.get(name) is not None:
            assert f"(default: {flags[name]})" in text, text


def test_main_help_shows_every_flag_with_its_default(capsys):
    check_help(help_text(main_module.parse_args, capsys), MAIN_FLAGS)


def test_dataset_help_shows_every_flag_with_its_default(capsys):
    flags = {"index": "500", **DATASET_FLAGS}
    check_help(help_text(dataset_module.parse_args, capsys), flags)
