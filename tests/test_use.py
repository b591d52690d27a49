"""Using a trained network: checkpoints, --evaluate, --predict with your own pictures,
--classes, and the confusion matrix and misclassified images saved after a run."""

import os

os.environ["MPLBACKEND"] = "Agg"  # no windows: set before matplotlib is imported

import contextlib
import gzip
import io
import json
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import checkpoint  # noqa: E402
import main  # noqa: E402
import MNISTDataset  # noqa: E402
import pictures  # noqa: E402
from MNISTDataset import MNISTDataError, load_split, prepare_digit_image  # noqa: E402
from NeuralNetwork import NeuralNet  # noqa: E402

DATA = ROOT / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_main(*argv):
    """main.main(argv) with its printed output captured; returns (exit code, output)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main.main([str(arg) for arg in argv])
    return code, output.getvalue()


def evaluate_in_a_subprocess(checkpoint_path, output_dir):
    """Run `python main.py --evaluate PATH` on the real test set, as a user would."""
    return subprocess.run(
        [sys.executable, "main.py", "--evaluate", str(checkpoint_path), "--data-dir",
         str(DATA), "--no-show", "--output-dir", str(output_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


def correct_count(output):
    """The number right in the last 'Test set:' line of a run's output."""
    return int(re.findall(r"Accuracy: (\d+)/\d+", output)[-1])


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as picture:
        picture.verify()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One epoch on the real data with --save-model, shared by the whole module."""
    output_dir = tmp_path_factory.mktemp("trained")
    code, output = run_main("--data-dir", DATA, "--epochs", 1, "--save-model",
                            "--no-show", "--log-interval", 10000,
                            "--output-dir", output_dir)
    assert code == 0, output
    return SimpleNamespace(dir=output_dir, model=output_dir / "model.pt", output=output)


@pytest.fixture(scope="module")
def test_set():
    return load_split(DATA, "test")


def write_idx(path, values):
    """Write an array of bytes as a gzipped IDX file (magic 0x08 then the dimensions)."""
    values = np.asarray(values, dtype=np.uint8)
    header = np.array([0x800 + values.ndim, *values.shape], dtype=">i4").tobytes()
    with gzip.open(path, "wb") as file:
        file.write(header + values.tobytes())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, test_set):
    """A folder of small MNIST files: 200 training and 100 test images of the real set."""
    folder = tmp_path_factory.mktemp("tiny")
    images = (test_set.images * 255).round().to(torch.uint8).view(-1, 28, 28).numpy()
    labels = test_set.labels.numpy()
    write_idx(folder / "train-images-idx3-ubyte.gz", images[100:300])
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels[100:300])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:100])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:100])
    return folder


def draw_picture(image, path, dark_on_light=True, mode="RGB", size=(200, 260), side=170,
                 corner=(15, 45)):
    """Draw a 28 x 28 dataset image as an ordinary, much larger picture and save it."""
    pixels = (image.view(28, 28).numpy() * 255).round().astype(np.uint8)
    digit = Image.fromarray(pixels).resize((side, side), Image.BILINEAR)
    canvas = Image.new("L", size, 0)
    canvas.paste(digit, corner)
    if dark_on_light:
        canvas = Image.eval(canvas, lambda value: 255 - value)
    canvas = canvas.convert(mode)
    if Path(path).suffix == ".jpg":
        canvas = canvas.convert("RGB")
    canvas.save(path)
    return Path(path)


def centre_of_mass(image):
    image = image.view(28, 28)
    positions = torch.arange(28, dtype=torch.float32)
    total = image.sum()
    return ((image.sum(1) * positions).sum() / total).item(), \
        ((image.sum(0) * positions).sum() / total).item()


# -- checkpoints: a saved model tests the same under --evaluate ----------------------


def test_checkpoint_holds_weights_classes_and_format(trained):
    saved = torch.load(trained.model, weights_only=True)
    assert saved["format"] == checkpoint.CHECKPOINT_FORMAT
    assert saved["classes"] == MNISTDataset.DIGIT_CLASSES
    assert set(saved["state_dict"]) == set(NeuralNet().state_dict())
    assert saved["settings"]["epochs"] == 1


def test_evaluate_gives_the_accuracy_of_training(trained, tmp_path):
    code, output = run_main("--evaluate", trained.model, "--data-dir", DATA, "--no-show",
                            "--output-dir", tmp_path)
    assert code == 0
    assert "Test set: Avg. loss:" in output
    assert correct_count(output) == correct_count(trained.output)
    assert correct_count(output) > 9000  # one epoch reaches about 95%
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert_png(tmp_path / "evaluation" / name)  # beside, not over, the training run's


def test_a_bare_state_dict_is_accepted(trained, tmp_path, test_set):
    saved, _, _ = checkpoint.load_checkpoint(trained.model)
    torch.save(saved.state_dict(), tmp_path / "bare.pt")
    loaded, classes, settings = checkpoint.load_checkpoint(tmp_path / "bare.pt")
    assert classes is None and settings is None
    images = test_set.images[:50]
    assert torch.equal(main.classify(loaded, images), main.classify(saved, images))


# -- files that are not checkpoints: refused with a message that says what was found -


def write_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")


def write_other_network(path):
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)


def write_wrong_shapes(path):
    state_dict = NeuralNet().state_dict()
    state_dict["linear1.weight"] = torch.zeros(100, 20)
    torch.save({"state_dict": state_dict}, path)


def write_cut_short(path):
    torch.save({"state_dict": NeuralNet().state_dict()}, path)
    path.write_bytes(path.read_bytes()[:5000])


@pytest.mark.parametrize("write, match", [
    (lambda path: path.write_text("hello, I am a text file\n"), "found text starting"),
    (lambda path: path.write_bytes(bytes(range(255, 0, -1)) * 8), "found data starting"),
    (lambda path: path.write_bytes(b""), "found an empty file"),
    (write_zip, "zip archive that is not a PyTorch file"),
    (write_other_network, r"weights of another network \(no linear1.weight"),
    (write_wrong_shapes, r"linear1.weight of shape \[100, 20\] instead of \[100, 784\]"),
    (write_cut_short, "damaged or cut-short zip archive"),
    (lambda path: torch.save([1, 2, 3], path), "found a list instead of a dict"),
    (lambda path: torch.save({"epoch": 3}, path), "a dict with no 'state_dict'"),
    (lambda path: None, "does not exist: train a model and save it first"),
], ids=["text", "random bytes", "empty", "zip", "other network", "wrong shapes",
        "cut short", "list", "no state_dict", "missing"])
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, write, match):
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(checkpoint.CheckpointError, match=match):
        checkpoint.load_checkpoint(path)


@pytest.mark.parametrize("write", [
    lambda path: path.write_text("hello, I am a text file\n"), write_other_network,
], ids=["text", "other network"])
def test_evaluate_a_non_checkpoint_exits_2_with_one_line(tmp_path, write):
    path = tmp_path / "model.pt"
    write(path)
    result = evaluate_in_a_subprocess(path, tmp_path / "out")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert f"'{path}' is not a checkpoint of this network" in result.stderr
    assert "Traceback" not in result.stderr


# -- a pickle that would run code: refused, and none of it runs ----------------------


class RunsCode:
    """Unpickling this calls os.system: it creates `marker` if any of it runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def test_the_harmful_pickle_is_live(tmp_path):
    # the control: plain pickle does run it, so the refusals below mean something
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(RunsCode(marker)))
    assert marker.exists()


@pytest.mark.parametrize("write", [
    lambda path, marker: path.write_bytes(pickle.dumps(RunsCode(marker), protocol=2)),
    lambda path, marker: path.write_bytes(pickle.dumps(RunsCode(marker), protocol=4)),
    lambda path, marker: torch.save(
        {"state_dict": NeuralNet().state_dict(), "extra": RunsCode(marker)}, path),
], ids=["pickle protocol 2", "pickle protocol 4", "inside a torch checkpoint"])
def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path, write):
    path, marker = tmp_path / "model.pt", tmp_path / "pwned"
    write(path, marker)
    with pytest.raises(checkpoint.CheckpointError, match="refused and nothing in it ran"):
        checkpoint.load_checkpoint(path)
    assert not marker.exists()


def test_evaluate_a_pickle_that_runs_code_exits_2_unrun(tmp_path):
    path, marker = tmp_path / "model.pt", tmp_path / "pwned"
    torch.save({"state_dict": NeuralNet().state_dict(), "extra": RunsCode(marker)}, path)
    result = evaluate_in_a_subprocess(path, tmp_path / "out")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "refused and nothing in it ran" in result.stderr
    assert not marker.exists()


# -- your own pictures: prepared the way MNIST was, predicted as well as the originals


def test_pictures_are_predicted_about_as_well_as_the_dataset_images(trained, test_set,
                                                                      tmp_path):
    neural_net, _, _ = checkpoint.load_checkpoint(trained.model)
    count = 200
    labels = test_set.labels[:count]
    originals = main.classify(neural_net, test_set.images[:count]).argmax(dim=1)

    # large pictures of the same digits: different sizes, places, colour modes and
    # formats; dark ink on white, and every tenth light ink on black
    inputs = []
    for i in range(count):
        path = tmp_path / f"digit{i}.{'jpg' if i % 5 == 0 else 'png'}"
        draw_picture(test_set.images[i], path, dark_on_light=i % 10 != 3,
                     mode=["RGB", "L", "RGBA", "P"][i % 4], side=130 + 10 * (i % 6),
                     corner=(10 + 15 * (i % 3), 20 + 10 * (i % 4)))
        inputs.append(prepare_digit_image(path))
    pictures = main.classify(neural_net, torch.stack(inputs)).argmax(dim=1)

    original_accuracy = (originals == labels).float().mean().item()
    picture_accuracy = (pictures == labels).float().mean().item()
    # measured: the pictures score within a point or two of the originals, either way
    assert picture_accuracy >= original_accuracy - 0.04, (picture_accuracy,
                                                          original_accuracy)


@pytest.mark.parametrize("index, options", [
    (0, dict()),
    (1, dict(mode="L", side=90, corner=(100, 150))),
    (2, dict(mode="RGBA", dark_on_light=False)),
    (3, dict(mode="P", size=(600, 400), side=350)),
    (4, dict(size=(30, 30), side=24, corner=(3, 3))),  # smaller than 20 x 20 ink
], ids=["RGB", "L off-centre", "RGBA light on dark", "P large", "tiny"])
def test_a_prepared_picture_looks_like_mnist(tmp_path, test_set, index, options):
    path = draw_picture(test_set.images[index], tmp_path / "digit.png", **options)
    image = prepare_digit_image(path)

    assert image.shape == (784,) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1
    row, column = centre_of_mass(image)
    assert abs(row - 14) <= 1 and abs(column - 14) <= 1  # where MNIST's centres are
    ink = image.view(28, 28) > 0
    height = ink.any(dim=1).nonzero().flatten()
    width = ink.any(dim=0).nonzero().flatten()
    assert height[-1] - height[0] + 1 <= 20 and width[-1] - width[0] + 1 <= 20
    assert max(height[-1] - height[0], width[-1] - width[0]) + 1 >= 18  # scaled to fit


def test_dark_on_light_and_light_on_dark_give_the_same_input(tmp_path, test_set):
    dark = prepare_digit_image(draw_picture(test_set.images[7], tmp_path / "dark.png"))
    light = prepare_digit_image(
        draw_picture(test_set.images[7], tmp_path / "light.png", dark_on_light=False))
    assert torch.allclose(dark, light, atol=1e-6)


def test_a_transparent_background_counts_as_paper(tmp_path, test_set):
    opaque = draw_picture(test_set.images[9], tmp_path / "opaque.png", mode="L")
    ink = Image.open(opaque)
    # black ink, its strength in the alpha channel, on a fully transparent background
    clear = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    clear.putalpha(Image.eval(ink, lambda value: 255 - value))
    clear.save(tmp_path / "clear.png")
    assert torch.allclose(prepare_digit_image(opaque),
                          prepare_digit_image(tmp_path / "clear.png"), atol=0.02)


def write_blank(colour, mode="RGB", suffix=".png"):
    def write(path):
        path = path.with_suffix(suffix)
        Image.new(mode, (80, 60), colour).save(path)
        return path
    return write


def write_cut_short_png(path):
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 60),
                                                                 dtype=np.uint8))
    picture.save(path)
    path.write_bytes(path.read_bytes()[:1500])
    return path


def write_text(path):
    path.write_text("this is not a picture")
    return path


@pytest.mark.parametrize("write, match", [
    (lambda path: path, "does not exist"),
    (write_text, "is not a picture: expected a PNG, JPG .* found text starting"),
    (lambda path: (path.write_bytes(b""), path)[1], "is not a picture.*empty file"),
    (write_cut_short_png, "could not be read as a picture .*truncated"),
    (lambda path: (path.mkdir(), path)[1], "is a folder"),
    (write_blank("white"), "has no ink to read"),
    (write_blank("black"), "has no ink to read"),
    (write_blank((128, 128, 128), suffix=".jpg"), "has no ink to read"),
    (write_blank((0, 0, 0, 0), mode="RGBA"), "has no ink to read"),
], ids=["missing", "text", "empty file", "cut short", "folder", "white", "black",
        "grey jpg", "transparent"])
def test_an_unreadable_or_empty_picture_is_refused(tmp_path, write, match):
    path = write(tmp_path / "digit.png")
    with pytest.raises(MNISTDataError, match=match):
        prepare_digit_image(path)


# -- --predict: one line per picture, the checkpoint's classes, one-line errors ------


def test_predict_prints_one_line_per_picture(trained, test_set, tmp_path, capsys):
    paths = [draw_picture(test_set.images[i], tmp_path / f"my{i}.png") for i in range(3)]
    code = main.main(["--predict", *map(str, paths), "--checkpoint", str(trained.model),
                      "--output-dir", str(tmp_path / "out"), "--no-show"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    line = re.compile(r"(.+): (\d)  \((\d) ([\d.]+)%, (\d) ([\d.]+)%, (\d) ([\d.]+)%\)")
    for path, text, label in zip(paths, lines, test_set.labels[:3]):
        found = line.fullmatch(text)
        assert found, text
        assert found[1] == str(path) and found[2] == found[3] == str(label.item())
        assert float(found[4]) >= float(found[6]) >= float(found[8])
    assert lines[3] == f"Saved {tmp_path / 'out' / 'predictions.png'}"
    assert_png(tmp_path / "out" / "predictions.png")


def test_predict_uses_the_checkpoint_classes_unless_given(tmp_path, test_set, capsys):
    checkpoint.save_model(NeuralNet(), {}, tmp_path, MNISTDataset.FASHION_CLASSES)
    picture = str(draw_picture(test_set.images[0], tmp_path / "shoe.png"))
    common = ["--predict", picture, "--checkpoint", str(tmp_path / "model.pt"),
              "--output-dir", str(tmp_path), "--no-show"]

    assert main.main(common) == 0
    names = re.findall(r": (.+?)  \(", capsys.readouterr().out)
    assert names and names[0] in MNISTDataset.FASHION_CLASSES

    assert main.main(common + ["--classes", "digits"]) == 0
    names = re.findall(r": (.+?)  \(", capsys.readouterr().out)
    assert names and names[0] in MNISTDataset.DIGIT_CLASSES


def test_predict_without_a_checkpoint_says_to_train_first(tmp_path, test_set, capsys):
    picture = str(draw_picture(test_set.images[0], tmp_path / "my7.png"))
    code = main.main(["--predict", picture, "--checkpoint", str(tmp_path / "none.pt"),
                      "--no-show", "--output-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2
    assert len(error.splitlines()) == 1 and "--save-model" in error


def test_predict_an_unreadable_picture_exits_2_with_one_line(trained, tmp_path, capsys):
    picture = write_text(tmp_path / "my7.png")
    code = main.main(["--predict", str(picture), "--checkpoint", str(trained.model),
                      "--no-show", "--output-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 2
    assert len(error.splitlines()) == 1 and "is not a picture" in error


# -- --classes: digits, fashion, or exactly ten names --------------------------------


def test_classes_by_name_or_as_ten_names():
    assert main.parse_args(["--classes", "fashion"]).classes == MNISTDataset.FASHION_CLASSES
    assert main.parse_args([]).classes is None  # digits, or the checkpoint's own
    names = "zero,one,two,three,four,five,six,seven,eight,nine"
    assert main.parse_args(["--classes", names]).classes == names.split(",")


@pytest.mark.parametrize("text, match", [
    ("a,b,c,d,e,f,g,h,i", "got 9 names"),
    ("a,b,c,d,e,f,g,h,i,j,k", "got 11 names"),
    ("cats", "got 1 name "),
    ("a,b,c,d,e,f,g,h,i,a", "must all differ"),
    ("a,b,c,d,e,f,g,h,i,", "none be empty"),
], ids=["nine", "eleven", "unknown set", "twice", "empty"])
def test_classes_that_are_not_ten_names_exit_2(capsys, text, match):
    with pytest.raises(SystemExit) as stopped:
        main.parse_args(["--classes", text])
    error = capsys.readouterr().err
    assert stopped.value.code == 2
    assert len(error.splitlines()) == 1 and re.search(match, error)


# -- after a run: the confusion matrix and the misclassified images ------------------


def test_training_saves_the_test_plots(trained):
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert_png(trained.dir / name)
        assert str(trained.dir / name) in trained.output.splitlines()[-1]


def test_confusion_matrix_counts_by_hand():
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 9])
    predicted = torch.tensor([0, 1, 1, 2, 0, 2, 9])
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 0] = expected[9, 9] = 1
    expected[2, 2] = 2
    assert torch.equal(pictures.confusion_matrix(labels, predicted), expected)


def test_confusion_matrix_of_the_test_set(trained, test_set):
    neural_net, _, _ = checkpoint.load_checkpoint(trained.model)
    loader = torch.utils.data.DataLoader(test_set, batch_size=1000,
                                         collate_fn=main.collate_batch)
    predicted = []
    _, correct, count = main.test(neural_net, loader, torch.nn.CrossEntropyLoss(),
                                  predictions=predicted)
    matrix = pictures.confusion_matrix(test_set.labels, torch.cat(predicted))
    assert matrix.sum() == count == 10000
    assert matrix.trace() == correct == correct_count(trained.output)
    # each row holds one digit's test images: MNIST's known counts
    assert matrix.sum(dim=1).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                          974, 1009]


def tiny_run(folder, output_dir):
    return run_main("--data-dir", folder, "--epochs", 2, "--no-show", "--batch-size", 20,
                    "--output-dir", output_dir)


@pytest.mark.parametrize("stop, exit_code", [
    (KeyboardInterrupt(), 130), (main.TrainingDiverged("the loss became nan"), 1),
], ids=["Ctrl-C", "diverged"])
def test_a_run_that_stops_early_still_saves_the_test_plots(tiny_data, tmp_path,
                                                           monkeypatch, stop, exit_code):
    real_train = main.train

    def train_then_stop(epoch, *args, **kwargs):
        if epoch == 2:
            raise stop
        return real_train(epoch, *args, **kwargs)

    monkeypatch.setattr(main, "train", train_then_stop)
    code, output = tiny_run(tiny_data, tmp_path)
    assert code == exit_code
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["test_accuracy"]) == 2  # before training and after epoch 1
    for name in ("confusion_matrix.png", "misclassified.png"):
        assert_png(tmp_path / name)


def test_a_run_stopped_before_any_test_pass_saves_no_test_plots(tiny_data, tmp_path,
                                                                monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "test", interrupted)
    code, output = tiny_run(tiny_data, tmp_path)
    assert code == 130
    assert (tmp_path / "history.json").exists()
    assert not (tmp_path / "confusion_matrix.png").exists()
    assert not (tmp_path / "misclassified.png").exists()
