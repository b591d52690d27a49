"""The guard rails: defaults that work from any folder, input refused before any work,
and runs that end early, go wrong, or reuse a folder leave the right files behind.

Most runs use the tiny random folder from conftest; a few subprocesses check the real
command line (run from another working directory, or on the real data in data/).
"""

import contextlib
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import checkpoint
import main as main_module
import MNISTDataset as dataset_module
from conftest import (
    DATA_DIR,
    IMAGE_NAMES,
    LABEL_NAMES,
    PNG_SIGNATURE,
    ROOT,
    headless_env,
    make_mnist_folder,
)
from MNISTDataset import MNISTDataError, MNISTDataset, make_output_dir, mnist_paths
from NeuralNetwork import NeuralNet

NEAR_CHANCE = "close to guessing"
SAME_IMAGES = "are the training images"


def says(*parts):
    """A pattern for pytest.raises(match=...) or re.search: these parts, in order."""
    return ".*".join(re.escape(str(part)) for part in parts)


def lines_of(text):
    return [line for line in text.splitlines() if line.strip()]


def assert_one_error_line(stderr, *parts):
    """stderr is exactly one 'error: ...' line, with `parts` in it in order; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = lines_of(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    assert re.search(says(*parts), lines[0]), lines[0]


def assert_png(path):
    assert Path(path).read_bytes()[:8] == PNG_SIGNATURE, path


def run_main(*argv):
    """main.main(argv) with stdout and stderr captured: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main_module.main([str(arg) for arg in argv])
    return code, out.getvalue(), err.getvalue()


def parse_error(capsys, function, argv):
    """Call function(argv), which must stop with exit code 2; return its stderr."""
    with pytest.raises(SystemExit, match="^2$"):
        function([str(arg) for arg in argv])
    return capsys.readouterr().err


def tiny_copy(tiny_mnist, folder):
    """A copy of the tiny MNIST folder (which must only be read) at `folder`."""
    shutil.copytree(tiny_mnist.path, folder)
    return folder


# -- the real command line, run from another working directory (one batch of runs) --


def run_in(cwd, args, timeout=180):
    """Run `python <args>` with `cwd` as the working directory, headless."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=headless_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def script_runs(tiny_mnist, tmp_path_factory):
    """Each command below, run once for the module, all at the same time; by name."""
    where = {name: tmp_path_factory.mktemp(name)
             for name in ("dataset-elsewhere", "main-elsewhere", "index-59999",
                          "output-under-file")}
    a_file = where["output-under-file"] / "afile"
    a_file.write_text("not a folder")
    commands = {
        # relative --output-dir: lands in the working directory; data/ is found anyway
        "dataset-elsewhere": [ROOT / "MNISTDataset.py", "--no-show", "--output-dir", "out"],
        "main-elsewhere": [ROOT / "main.py", "--dry-run", "--no-show", "--output-dir",
                           "out"],
        "index-59999": [ROOT / "MNISTDataset.py", "59999", "--no-show", "--output-dir",
                        where["index-59999"] / "out"],
        "output-under-file": [ROOT / "main.py", "--data-dir", tiny_mnist.path, "--epochs",
                              1, "--no-show", "--output-dir", a_file / "sub"],
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {name: pool.submit(run_in, where[name], args)
                   for name, args in commands.items()}
        results = {name: future.result() for name, future in futures.items()}
    return {name: SimpleNamespace(result=results[name], cwd=where[name])
            for name in commands}


# -- 1. the default --data-dir is the data folder beside the scripts -----------------


def test_default_data_dir_is_beside_the_scripts():
    assert dataset_module.DEFAULT_DATA_DIR == DATA_DIR
    assert Path(main_module.parse_args([]).data_dir) == DATA_DIR


def test_dataset_script_works_from_another_working_directory(script_runs):
    run = script_runs["dataset-elsewhere"]
    assert run.result.returncode == 0, run.result.stderr
    assert "Traceback" not in run.result.stderr
    assert not (run.cwd / "data").exists()
    for split in ("train", "test"):
        assert_png(run.cwd / "out" / f"digit-{split}-500.png")


def test_main_dry_run_works_from_another_working_directory(script_runs):
    run = script_runs["main-elsewhere"]
    assert run.result.returncode == 0, run.result.stderr
    assert "Train Epoch: 1 [0/60000 (0%)]" in run.result.stdout
    history = json.loads((run.cwd / "out" / "dry-run" / "history.json").read_text())
    assert Path(history["settings"]["data_dir"]) == DATA_DIR


def test_main_relative_data_dir_that_does_not_exist_shows_where_it_looked(
        tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = parse_error(capsys, main_module.main,
                      ["--data-dir", "no-such-data", "--no-show", "--output-dir", "out"])
    assert_one_error_line(err, "--data-dir 'no-such-data' (that is "
                          f"{(tmp_path / 'no-such-data').resolve()})", "is not a folder")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_mnist_paths_relative_folder_that_does_not_exist_shows_where_it_looked(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MNISTDataError, match=says(
            "data folder 'no-such-data' (that is ", (tmp_path / "no-such-data").resolve(),
            ") does not exist", "--data-dir")):
        mnist_paths("no-such-data", "train")


# -- 2. an image index is checked against both sets before anything is drawn --------


def test_index_valid_for_training_but_not_test_set_exits_2_and_draws_nothing(
        script_runs):
    run = script_runs["index-59999"]  # the real data: 60,000 training, 10,000 test
    assert run.result.returncode == 2, run.result.stderr
    assert_one_error_line(run.result.stderr, "image index 59999 is out of range",
                          "the test set", "t10k-images", "holds 10000 images (0 to 9999)")
    assert list((run.cwd / "out").glob("*.png")) == []
    assert "Label:" not in run.result.stdout


def test_index_valid_for_training_but_not_test_set_in_process(tiny_mnist, tmp_path,
                                                             capsys):
    # the tiny folder: 120 training images, 40 test images
    code = dataset_module.main(["100", "--data-dir", str(tiny_mnist.path), "--no-show",
                                "--output-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert_one_error_line(captured.err, "image index 100", "the test set",
                          "holds 40 images (0 to 39)")
    assert list(tmp_path.glob("*.png")) == []


def test_negative_index_exits_2_with_one_line(tmp_path, capsys):
    err = parse_error(capsys, dataset_module.main,
                      ["-1", "--no-show", "--output-dir", tmp_path])
    assert_one_error_line(err, "index: must be 0 or more, got -1")
    assert list(tmp_path.glob("*.png")) == []


def test_index_that_is_not_a_number_exits_2_with_one_line(tmp_path, capsys):
    err = parse_error(capsys, dataset_module.main,
                      ["abc", "--no-show", "--output-dir", tmp_path])
    assert_one_error_line(err, "index: expected a whole number, got 'abc'")
    assert list(tmp_path.glob("*.png")) == []


# -- 3. an --output-dir that cannot be a folder is refused before any work -----------


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("I am a file")
    return path


@pytest.mark.parametrize("below", [False, True], ids=["the file", "a folder under it"])
def test_make_output_dir_refuses_a_file(a_file, below):
    folder = a_file / "sub" if below else a_file
    with pytest.raises(MNISTDataError, match=says(
            "--output-dir", folder, "cannot be a folder", "is a file",
            "another --output-dir")):
        make_output_dir(folder)


@pytest.mark.parametrize("below", [False, True], ids=["the file", "a folder under it"])
def test_main_refuses_an_output_dir_that_is_a_file_before_training(tiny_mnist, a_file,
                                                                   below):
    folder = a_file / "sub" if below else a_file
    code, out, err = run_main("--data-dir", tiny_mnist.path, "--epochs", 1, "--no-show",
                              "--output-dir", folder)
    assert code == 2
    assert_one_error_line(err, "--output-dir", folder, "cannot be a folder")
    assert "Train Epoch" not in out and "Test set" not in out
    assert a_file.read_text() == "I am a file"


@pytest.mark.parametrize("below", [False, True], ids=["the file", "a folder under it"])
def test_dataset_script_refuses_an_output_dir_that_is_a_file(tiny_mnist, a_file, capsys,
                                                             below):
    folder = a_file / "sub" if below else a_file
    code = dataset_module.main(["7", "--data-dir", str(tiny_mnist.path), "--no-show",
                                "--output-dir", str(folder)])
    captured = capsys.readouterr()
    assert code == 2
    assert_one_error_line(captured.err, "--output-dir", folder, "cannot be a folder")
    assert "Label:" not in captured.out


@pytest.mark.parametrize("script", ["main.py", "MNISTDataset.py"])
def test_output_dir_is_checked_before_the_data_is_even_looked_at(a_file, tmp_path,
                                                                 capsys, script):
    empty = tmp_path / "empty-data"  # loading it first would complain about the data
    empty.mkdir()
    module = main_module if script == "main.py" else dataset_module
    code = module.main(["--data-dir", str(empty), "--no-show",
                        "--output-dir", str(a_file / "sub")])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "--output-dir", "cannot be a folder")


def test_main_script_refuses_an_output_dir_under_a_file(script_runs):
    result = script_runs["output-under-file"].result
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result.stderr, "--output-dir", "afile/sub", "cannot be a folder")
    assert "Train Epoch" not in result.stdout


# -- 4. what a file that is not IDX is called: gzip of something else, or neither ----

NOT_IDX = b"\x13\x37" + np.random.default_rng(1).bytes(500)
HTML_PAGE = b"<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n"


@pytest.mark.parametrize("kind", ["images", "labels"])
def test_gzip_of_something_that_is_not_idx(tiny_mnist, tmp_path, kind):
    path = tmp_path / "not-idx.gz"
    path.write_bytes(gzip.compress(NOT_IDX, mtime=0))
    magic = "00 00 08 03" if kind == "images" else "00 00 08 01"
    pattern = says(path, "is gzip-compressed, but what it holds is not an IDX file",
                   "starts with 13 37", magic, "--download")
    train_images, train_labels = mnist_paths(tiny_mnist.path, "train")
    with pytest.raises(MNISTDataError, match=pattern) as raised:
        if kind == "images":
            MNISTDataset(path, train_labels)
        else:
            MNISTDataset(train_images, path)
    assert "neither" not in str(raised.value)


def test_gzip_of_a_web_page_is_called_a_web_page(tiny_mnist, tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(HTML_PAGE, mtime=0))
    with pytest.raises(MNISTDataError, match=says(path, "is a web page", "<!DOCTYPE")):
        MNISTDataset(path, mnist_paths(tiny_mnist.path, "train")[1])


def test_raw_file_that_is_not_idx_is_neither(tiny_mnist, tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(NOT_IDX)
    with pytest.raises(MNISTDataError, match=says(
            path, "is neither gzip-compressed nor an IDX file", "starts with 13 37",
            "00 00 08 03")) as raised:
        MNISTDataset(path, mnist_paths(tiny_mnist.path, "train")[1])
    assert "is gzip-compressed" not in str(raised.value)


# -- 5. a folder named like a data file: the file is probably inside it --------------


def test_folder_named_like_a_data_file_says_move_the_file_up(tiny_mnist, tmp_path):
    folder = tiny_copy(tiny_mnist, tmp_path / "data")
    label_file = folder / (LABEL_NAMES["test"] + ".gz")
    label_file.unlink()
    (folder / label_file.name).mkdir()  # what some extraction tools make
    shutil.copy(tiny_mnist.path / label_file.name, folder / label_file.name / "inside")
    with pytest.raises(MNISTDataError, match=says(
            label_file, "is a folder", "labels file", "inside", "move it up")):
        mnist_paths(folder, "test")
    # the training files beside it are still found
    assert mnist_paths(folder, "train")[0].name == IMAGE_NAMES["train"] + ".gz"


def test_folder_named_like_a_data_file_beside_the_file_itself_is_ignored(tiny_mnist,
                                                                       tmp_path):
    folder = tiny_copy(tiny_mnist, tmp_path / "data")
    gz_name = LABEL_NAMES["test"] + ".gz"
    (folder / gz_name).rename(folder / "kept.gz")
    with gzip.open(folder / "kept.gz") as file:
        (folder / LABEL_NAMES["test"]).write_bytes(file.read())  # the extracted file
    (folder / gz_name).mkdir()
    assert mnist_paths(folder, "test")[1] == folder / LABEL_NAMES["test"]


# -- 6. bad flags: one line naming the flag, in words a user understands -------------


@pytest.mark.parametrize("value", ["1.5", "1", "-0.1"])
def test_momentum_outside_0_to_1_exits_2(tmp_path, capsys, value):
    err = parse_error(capsys, main_module.main,
                      ["--momentum", value, "--no-show", "--output-dir", tmp_path])
    assert_one_error_line(err, "--momentum", "at least 0 and below 1", f"got {value}")
    assert not (tmp_path / "history.json").exists()


@pytest.mark.parametrize("value", ["0", "0.5", "0.99"])
def test_momentum_from_0_to_below_1_is_accepted(value):
    assert main_module.parse_args(["--momentum", value]).momentum == float(value)


def test_lr_that_is_not_a_number_says_expected_a_number(capsys):
    err = parse_error(capsys, main_module.parse_args, ["--lr", "abc"])
    assert_one_error_line(err, "--lr", "expected a number, got 'abc'")
    assert "positive_float" not in err and "as_number" not in err and "invalid" not in err


def test_epochs_that_is_not_a_number_says_expected_a_whole_number(capsys):
    err = parse_error(capsys, main_module.parse_args, ["--epochs", "abc"])
    assert_one_error_line(err, "--epochs", "expected a whole number, got 'abc'")
    assert "positive_int" not in err and "invalid" not in err


def test_checkpoint_without_predict_exits_2(tmp_path, capsys):
    err = parse_error(capsys, main_module.main,
                      ["--checkpoint", "x.pt", "--no-show", "--output-dir", tmp_path])
    assert_one_error_line(err, "--checkpoint", "--predict")
    assert not (tmp_path / "history.json").exists()


# -- 7. --predict: good pictures are predicted even when another one fails ------------


@pytest.fixture(scope="module")
def trained(tiny_mnist, tmp_path_factory):
    """One epoch on the tiny folder with --save-model (its predictions are guesses)."""
    output_dir = tmp_path_factory.mktemp("trained")
    code, _, err = run_main("--data-dir", tiny_mnist.path, "--epochs", 1,
                            "--save-model", "--no-show", "--output-dir", output_dir)
    assert code == 0, err
    return SimpleNamespace(dir=output_dir, model=output_dir / "model.pt",
                           data_dir=tiny_mnist.path)


def draw(path, shape):
    """A 120 x 120 picture: black ink on white paper; shape 'bar', 'ring' or 'blank'."""
    picture = Image.new("L", (120, 120), 255)
    pen = ImageDraw.Draw(picture)
    if shape == "bar":
        pen.rectangle((52, 15, 68, 105), fill=0)
    elif shape == "ring":
        pen.ellipse((25, 15, 95, 105), outline=0, width=14)
    picture.save(path)
    return path


PREDICTION = r": \d  \(\d [\d.]+%, \d [\d.]+%, \d [\d.]+%\)"


def test_predict_goes_on_past_a_picture_it_cannot_read(trained, tmp_path):
    good, empty, good2 = (draw(tmp_path / "good.png", "bar"),
                          draw(tmp_path / "empty.png", "blank"),
                          draw(tmp_path / "good2.png", "ring"))
    output_dir = tmp_path / "out"
    code, out, err = run_main("--predict", good, empty, good2, "--checkpoint",
                              trained.model, "--no-show", "--output-dir", output_dir)
    assert code == 2
    assert_one_error_line(err, empty, "has no ink to read")
    predicted = [line for line in out.splitlines() if re.search(PREDICTION, line)]
    assert [line.split(": ")[0] for line in predicted] == [str(good), str(good2)]
    assert str(empty) not in out
    assert_png(output_dir / "predictions.png")


def test_predict_uses_model_pt_in_output_dir_by_default(trained, tmp_path):
    picture = draw(tmp_path / "seven.png", "bar")
    code, out, err = run_main("--predict", picture, "--no-show", "--output-dir",
                              trained.dir)
    assert code == 0, err
    assert re.search(re.escape(str(picture)) + PREDICTION, out), out


def test_predict_without_model_pt_in_output_dir_names_where_it_looked(tmp_path):
    picture = draw(tmp_path / "seven.png", "bar")
    code, _, err = run_main("--predict", picture, "--no-show", "--output-dir",
                            tmp_path / "empty-out")
    assert code == 2
    assert_one_error_line(err, tmp_path / "empty-out" / "model.pt", "does not exist")


# -- 8. a model is saved after Ctrl-C, and never after the loss diverged -------------


def interrupt_after_one_batch_of(stop_epoch, monkeypatch):
    """Make main.train run one batch of epoch `stop_epoch` (changing the weights), then
    raise KeyboardInterrupt, as Ctrl-C in the middle of that epoch would."""
    real_train = main_module.train

    def train(epoch, *args, **kwargs):
        if epoch == stop_epoch:
            real_train(epoch, *args, **{**kwargs, "max_batches": 1})
            raise KeyboardInterrupt
        return real_train(epoch, *args, **kwargs)

    monkeypatch.setattr(main_module, "train", train)


def test_ctrl_c_mid_epoch_saves_the_weights_of_the_last_whole_epoch(tiny_mnist, tmp_path,
                                                                      monkeypatch):
    whole = tmp_path / "one-epoch"
    code, _, _ = run_main("--data-dir", tiny_mnist.path, "--epochs", 1, "--save-model",
                          "--no-show", "--output-dir", whole)
    assert code == 0

    interrupt_after_one_batch_of(2, monkeypatch)
    stopped = tmp_path / "stopped"
    code, out, err = run_main("--data-dir", tiny_mnist.path, "--epochs", 3,
                              "--save-model", "--no-show", "--output-dir", stopped)
    assert code == 130
    assert "Interrupted" in err and "the one after epoch 1" in err
    assert str(stopped / "model.pt") in out.splitlines()[-1]  # in the 'Saved' line
    expected, _, _ = checkpoint.load_checkpoint(whole / "model.pt")
    saved, _, settings = checkpoint.load_checkpoint(stopped / "model.pt")
    assert isinstance(saved, NeuralNet)
    assert settings["ended"] == "interrupted" and settings["epochs_finished"] == 1
    for name, value in expected.state_dict().items():
        assert torch.equal(saved.state_dict()[name], value), name


def test_ctrl_c_in_the_first_epoch_saves_no_model_and_keeps_an_old_one(tiny_mnist,
                                                                      tmp_path,
                                                                      monkeypatch):
    old = tmp_path / "model.pt"
    old.write_bytes(b"an older model")
    interrupt_after_one_batch_of(1, monkeypatch)
    code, _, err = run_main("--data-dir", tiny_mnist.path, "--epochs", 2, "--save-model",
                            "--no-show", "--output-dir", tmp_path)
    assert code == 130
    assert "The model is not saved: no epoch was finished" in err
    assert old.read_bytes() == b"an older model"


def test_diverged_run_with_save_model_saves_no_model(tiny_mnist, tmp_path):
    code, out, err = run_main("--data-dir", tiny_mnist.path, "--epochs", 2, "--lr",
                              "1e38", "--save-model", "--no-show", "--output-dir",
                              tmp_path)
    assert code == 1
    assert "The model is not saved" in err
    assert "model.pt" not in out
    assert not (tmp_path / "model.pt").exists()
    assert list(tmp_path.glob(".model.pt*")) == []  # no temporary file left either
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["settings"]["ended"] == "stopped: the loss diverged"


# -- 9. --evaluate: a near-chance warning, and its pictures in a folder of their own --


@pytest.fixture(scope="module")
def other_data(tmp_path_factory):
    """Random images and labels the model never saw: 300 test images, so near 10%."""
    return make_mnist_folder(tmp_path_factory.mktemp("other-data"), n_train=10,
                             n_test=300, seed=7).path


def test_evaluate_near_chance_warns_and_names_the_training_data(trained, other_data,
                                                                tmp_path):
    code, out, err = run_main("--evaluate", trained.model, "--data-dir", other_data,
                              "--no-show", "--output-dir", tmp_path)
    assert code == 0, err
    accuracy = float(re.findall(r"Accuracy: \d+/300 \(([\d.]+)%\)", out)[-1])
    assert accuracy < 20
    warnings = [line for line in lines_of(err) if NEAR_CHANCE in line]
    assert len(warnings) == 1, err
    assert f"it had 1 epoch(s) on {trained.data_dir}" in warnings[0]


def test_evaluate_of_a_bare_state_dict_says_its_training_is_unknown(other_data, tmp_path):
    torch.manual_seed(0)
    torch.save(NeuralNet().state_dict(), tmp_path / "bare.pt")
    code, _, err = run_main("--evaluate", tmp_path / "bare.pt", "--data-dir",
                            other_data, "--no-show", "--output-dir", tmp_path / "out")
    assert code == 0, err
    assert re.search(says(NEAR_CHANCE, "does not say what it was trained on"), err), err


def test_evaluate_writes_into_evaluation_and_leaves_the_run_pictures(trained, tiny_mnist,
                                                                     tmp_path):
    earlier = b"the training run's confusion matrix"
    (tmp_path / "confusion_matrix.png").write_bytes(earlier)
    code, _, err = run_main("--evaluate", trained.model, "--data-dir", tiny_mnist.path,
                            "--no-show", "--output-dir", tmp_path)
    assert code == 0, err
    assert (tmp_path / "confusion_matrix.png").read_bytes() == earlier
    assert not (tmp_path / "misclassified.png").exists()
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert_png(tmp_path / "evaluation" / name)


# -- 10. test files that are the training files get a warning ------------------------


def test_test_files_that_are_the_training_files_get_a_warning(tiny_mnist, tmp_path):
    folder = tiny_copy(tiny_mnist, tmp_path / "data")
    for names in (IMAGE_NAMES, LABEL_NAMES):
        shutil.copy(folder / (names["train"] + ".gz"), folder / (names["test"] + ".gz"))
    code, _, err = run_main("--data-dir", folder, "--epochs", 1, "--no-show",
                            "--output-dir", tmp_path / "out")
    assert code == 0, err
    assert re.search(says("test images in", IMAGE_NAMES["test"], SAME_IMAGES), err), err


def test_separate_test_files_get_no_such_warning(tmp_path):
    # as many test images as training images, different ones: the counts alone say nothing
    folder = make_mnist_folder(tmp_path / "data", n_train=60, n_test=60, seed=3).path
    code, _, err = run_main("--data-dir", folder, "--epochs", 1, "--no-show",
                            "--output-dir", tmp_path / "out")
    assert code == 0, err
    assert SAME_IMAGES not in err


# -- 11. a dry run writes into dry-run/ and says Epoch 1/1 ---------------------------


def test_dry_run_writes_into_its_own_folder_and_says_epoch_1_of_1(tiny_mnist, tmp_path):
    earlier = '{"from": "a real run"}'
    (tmp_path / "history.json").write_text(earlier)
    code, out, err = run_main("--data-dir", tiny_mnist.path, "--dry-run", "--epochs", 5,
                              "--no-show", "--output-dir", tmp_path)
    assert code == 0, err
    assert (tmp_path / "history.json").read_text() == earlier
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dry-run", "history.json"]
    history = json.loads((tmp_path / "dry-run" / "history.json").read_text())
    assert history["train_counter"] == [0]
    for name in ("losses.png", "accuracy.png"):
        assert_png(tmp_path / "dry-run" / name)
    summaries = re.findall(r"^Epoch \d+/\d+:", out, flags=re.MULTILINE)
    assert summaries == ["Epoch 1/1:"], out


# -- 12. the plots: whole epochs on the accuracy axis, a lone loss point is visible --


def history_of(epochs, points_per_epoch):
    history = main_module.History()
    for step in range(epochs * points_per_epoch):
        history.train_counter.append(step * 50)
        history.train_losses.append(2.3 / (1 + step))
    history.test_counter = [epoch * 120 for epoch in range(epochs + 1)]
    history.test_losses = [2.3 / (1 + epoch) for epoch in range(epochs + 1)]
    history.test_accuracy = [10.0 + 25 * epoch for epoch in range(epochs + 1)]
    return history


def test_accuracy_plot_of_3_epochs_has_whole_number_ticks(tmp_path):
    figures, paths = main_module.plot_history(history_of(3, 4), tmp_path)
    try:
        ticks = figures[1].axes[0].get_xticks()
        assert len(ticks) >= 2
        assert all(float(tick).is_integer() for tick in ticks), ticks
    finally:
        for figure in figures:
            plt.close(figure)
    assert [path.name for path in paths] == ["losses.png", "accuracy.png"]


def test_a_single_training_loss_point_is_drawn_with_a_marker(tmp_path):
    figures, _ = main_module.plot_history(history_of(1, 1), tmp_path)
    try:
        lines = figures[0].axes[0].get_lines()
        training = [line for line in lines if line.get_label() == "training loss"]
        assert len(training) == 1 and len(training[0].get_xdata()) == 1
        assert training[0].get_marker() not in (None, "None", "", " ")
    finally:
        for figure in figures:
            plt.close(figure)

