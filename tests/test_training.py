"""The network, the training loop and what a run leaves behind.

Runs use the tiny random folder from conftest, except one real epoch on data/ and a
short run on a slice of the real images (with right and with shuffled labels).
"""

import gzip
import json
import math
import os
import stat
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

import main as main_module
from conftest import DATA_DIR, IMAGE_NAMES, LABEL_NAMES, write_idx
from MNISTDataset import collate_batch, load_split
from NeuralNetwork import NeuralNet

NEAR_CHANCE = "close to guessing"


def run_main(folder, output_dir, *flags):
    """main.main on `folder`, writing into `output_dir`; returns (exit code, history)."""
    code = main_module.main(["--data-dir", str(folder), "--output-dir", str(output_dir),
                             "--no-show", *map(str, flags)])
    history_path = output_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else None
    return code, history


# -- the network: 784-100-50-10, sigmoids between the layers, logits out -------------


def test_layers_have_the_tutorial_sizes_and_84060_parameters():
    net = NeuralNet()
    sizes = [(net.linear1.in_features, net.linear1.out_features),
             (net.linear2.in_features, net.linear2.out_features),
             (net.linear3.in_features, net.linear3.out_features)]
    assert sizes == [(784, 100), (100, 50), (50, 10)]
    expected = sum(inputs * outputs + outputs for inputs, outputs in sizes)
    assert expected == 84_060
    assert sum(p.numel() for p in net.parameters()) == expected
    assert not hasattr(NeuralNet, "train") or NeuralNet.train is nn.Module.train


@pytest.mark.parametrize("batch", [1, 7])
def test_forward_is_sigmoid_between_layers_and_nothing_after_the_last(batch):
    torch.manual_seed(0)
    net = NeuralNet()
    x = torch.rand(batch, 784)
    by_hand = torch.sigmoid(x @ net.linear1.weight.T + net.linear1.bias)
    by_hand = torch.sigmoid(by_hand @ net.linear2.weight.T + net.linear2.bias)
    by_hand = by_hand @ net.linear3.weight.T + net.linear3.bias

    output = net(x)
    assert output.shape == (batch, 10)
    torch.testing.assert_close(output, by_hand, rtol=1e-6, atol=1e-6)


def test_output_is_logits_not_probabilities():
    torch.manual_seed(0)
    output = NeuralNet()(torch.rand(64, 784))
    assert (output < 0).any()  # a softmax or sigmoid output is never negative
    assert not torch.allclose(output.sum(dim=1), torch.ones(64), atol=1e-3)


# -- the same seed gives the same run; the fast batches change nothing ---------------


def test_same_seed_gives_bit_identical_histories_and_another_seed_does_not(
        tiny_mnist, tmp_path, capsys):
    runs = {}
    for name, seed in (("first", 3), ("again", 3), ("other", 4)):
        code, history = run_main(tiny_mnist.path, tmp_path / name, "--epochs", 2,
                                 "--seed", seed, "--log-interval", 1)
        assert code == 0
        runs[name] = history
    for key in ("train_losses", "test_losses", "test_accuracy"):
        assert runs["first"][key] == runs["again"][key], key
    assert runs["first"]["train_losses"] != runs["other"]["train_losses"]
    assert runs["first"]["test_losses"] != runs["other"]["test_losses"]


class PerItem(torch.utils.data.Dataset):
    """The same dataset without __getitems__: the DataLoader fetches image by image."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        return self.dataset[idx]


def train_by_hand(dataset, test_dataset, fast, epochs=2, seed=11, batch_size=16):
    """The tutorial's loop through main.train and main.test; returns the History."""
    torch.manual_seed(seed)
    net = NeuralNet()
    generator = torch.Generator().manual_seed(seed)
    if fast:
        train_loader = DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                  generator=generator, collate_fn=collate_batch)
        test_loader = DataLoader(test_dataset, batch_size=10, collate_fn=collate_batch)
    else:
        train_loader = DataLoader(PerItem(dataset), batch_size=batch_size, shuffle=True,
                                  generator=generator)
        test_loader = DataLoader(PerItem(test_dataset), batch_size=10)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    loss_function = nn.CrossEntropyLoss()
    history = main_module.History()
    for epoch in range(1, epochs + 1):
        main_module.train(epoch, net, train_loader, optimizer, loss_function, history,
                          log_interval=1)
        result = main_module.test(net, test_loader, loss_function)
        main_module.record_test(history, result, epoch * len(dataset))
    return history


def test_fast_batches_give_the_same_losses_as_item_by_item_fetching(tiny_mnist, capsys):
    train = load_split(tiny_mnist.path, "train")
    test = load_split(tiny_mnist.path, "test")
    fast = train_by_hand(train, test, fast=True)
    slow = train_by_hand(train, test, fast=False)
    assert len(fast.train_losses) == 2 * math.ceil(120 / 16)
    assert fast.train_losses == slow.train_losses
    assert fast.test_losses == slow.test_losses
    assert fast.test_accuracy == slow.test_accuracy


# -- the history lines up with the tutorial's lists ----------------------------------


@pytest.mark.parametrize("batch_size, log_interval", [(50, 1), (32, 2)])
def test_history_lists_line_up(tiny_mnist, tmp_path, capsys, batch_size, log_interval):
    epochs, n_train = 2, len(tiny_mnist.train_labels)
    code, history = run_main(tiny_mnist.path, tmp_path, "--epochs", epochs,
                             "--batch-size", batch_size, "--log-interval", log_interval)
    assert code == 0

    assert len(history["test_counter"]) == len(history["test_losses"]) \
        == len(history["test_accuracy"]) == epochs + 1
    assert history["test_counter"] == [e * n_train for e in range(epochs + 1)]
    # the tutorial: batch_idx * batch_size + (epoch - 1) * len(dataset), every
    # log_interval batches
    batches = math.ceil(n_train / batch_size)
    assert history["train_counter"] == [
        b * batch_size + (e - 1) * n_train
        for e in range(1, epochs + 1) for b in range(batches) if b % log_interval == 0]
    assert len(history["train_losses"]) == len(history["train_counter"])
    assert all(0 <= a <= 100 for a in history["test_accuracy"])

    out = capsys.readouterr().out
    for e in range(1, epochs + 1):
        for b in range(0, batches, log_interval):
            percent = f"{100 * b / batches:.0f}%"
            line = f"Train Epoch: {e} [{b * batch_size}/{n_train} ({percent})]\tLoss: "
            assert line in out
    assert out.count("Train Epoch: ") == len(history["train_counter"])
    assert out.count("Test set: Avg. loss: ") == epochs + 1


# -- one real epoch with the defaults learns MNIST -----------------------------------


def test_one_real_epoch_reaches_94_percent(tmp_path, capsys):
    code = main_module.main(["--epochs", "1", "--no-show", "--output-dir", str(tmp_path),
                             "--data-dir", str(DATA_DIR)])
    captured = capsys.readouterr()
    assert code == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["test_counter"] == [0, 60000]
    assert history["test_accuracy"][0] < 20  # an untrained network guesses
    assert history["test_accuracy"][-1] >= 94
    assert NEAR_CHANCE not in captured.err
    # 1200 batches of 50, logged every 100: the last line is batch 1100
    assert "Train Epoch: 1 [55000/60000 (92%)]\tLoss: " in captured.out


# -- the near-chance warning: real images with right labels, then with shuffled ones


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory):
    """The first 6000 training and 500 test images of data/, read here with gzip alone."""
    def read(name, header, count, size):
        with gzip.open(DATA_DIR / (name + ".gz")) as file:
            return np.frombuffer(file.read(header + count * size)[header:], np.uint8)

    return {split: (read(IMAGE_NAMES[split], 16, n, 784).reshape(n, 28, 28),
                    read(LABEL_NAMES[split], 8, n, 1))
            for split, n in (("train", 6000), ("test", 500))}


def write_folder(folder, real_slice, shuffle):
    rng = np.random.default_rng(0)
    for split, (images, labels) in real_slice.items():
        write_idx(folder / (IMAGE_NAMES[split] + ".gz"), images)
        write_idx(folder / (LABEL_NAMES[split] + ".gz"),
                  rng.permutation(labels) if shuffle else labels)
    return folder


@pytest.mark.parametrize("shuffle", [False, True],
                         ids=["right-labels", "shuffled-labels"])
def test_near_chance_warning_only_when_labels_do_not_match(real_slice, tmp_path, capsys,
                                                           shuffle):
    folder = write_folder(tmp_path / "data", real_slice, shuffle)
    code, history = run_main(folder, tmp_path / "out", "--epochs", 1)
    err = capsys.readouterr().err
    assert code == 0
    if shuffle:
        assert history["test_accuracy"][1] < 20
        assert NEAR_CHANCE in err and "labels that do not match the images" in err
    else:
        assert history["test_accuracy"][1] > 40
        assert NEAR_CHANCE not in err


# -- a loss that stops being a number ends the run, and what was gathered is saved ---


def test_learning_rate_far_too_high_stops_with_epoch_and_batch(tiny_mnist, tmp_path,
                                                               capsys):
    # batch 0 still sees the initial weights; one step at lr 1e38 overflows the next loss
    code, history = run_main(tiny_mnist.path, tmp_path, "--epochs", 2, "--lr", "1e38")
    err = capsys.readouterr().err
    assert code != 0
    assert "epoch 1, batch 1" in err and "--lr" in err
    assert history["test_counter"] == [0]
    assert history["settings"]["ended"] != "finished"
    for name in ("losses.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_non_finite_loss_names_its_epoch_and_batch(tiny_mnist, tmp_path, capsys,
                                                   monkeypatch):
    calls = {"training": 0}

    class BreaksOnTheFifthBatch(NeuralNet):
        def forward(self, x):
            output = super().forward(x)
            if self.training:
                calls["training"] += 1
                if calls["training"] == 5:
                    return output * float("nan")
            return output

    monkeypatch.setattr(main_module, "NeuralNet", BreaksOnTheFifthBatch)
    # 120 images in batches of 50: batches 0-2 in epoch 1, so the 5th is epoch 2 batch 1
    code, history = run_main(tiny_mnist.path, tmp_path, "--epochs", 3,
                             "--log-interval", 1)
    err = capsys.readouterr().err
    assert code != 0
    assert "nan in epoch 2, batch 1" in err
    assert history["test_counter"] == [0, 120]
    assert history["train_counter"] == [0, 50, 100, 120]
    for name in ("losses.png", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_learning_rate_beyond_float32_is_refused(tiny_mnist, tmp_path, capsys):
    with pytest.raises(SystemExit, match="2"):
        run_main(tiny_mnist.path, tmp_path, "--epochs", 1, "--lr", "1e300")
    err = capsys.readouterr().err
    assert "--lr" in err and "at most 3.4e+38" in err and len(err.strip().splitlines()) == 1


# -- Ctrl-C during training saves what was gathered and exits with 130 ---------------


def test_keyboard_interrupt_saves_history_and_plots(tiny_mnist, tmp_path, capsys,
                                                    monkeypatch):
    real_train = main_module.train

    def train_until_epoch_2(epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_train(epoch, *args, **kwargs)

    monkeypatch.setattr(main_module, "train", train_until_epoch_2)
    code, history = run_main(tiny_mnist.path, tmp_path, "--epochs", 3,
                             "--log-interval", 1)
    assert code == 130
    assert "Interrupted" in capsys.readouterr().err
    assert history["test_counter"] == [0, 120]
    assert len(history["test_accuracy"]) == len(history["test_losses"]) == 2
    assert history["train_counter"] == [0, 50, 100]
    for name in ("losses.png", "accuracy.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- a whole run is quiet: no warnings from torch, numpy or matplotlib ---------------


def test_a_training_run_emits_no_warnings(tiny_mnist, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, history = run_main(tiny_mnist.path, tmp_path, "--epochs", 1)
    assert code == 0 and len(history["test_counter"]) == 2


# -- what a run saves is readable like any file the user writes ----------------------


def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_saved_files_get_the_usual_permissions(tiny_mnist, tmp_path, capsys):
    code, _ = run_main(tiny_mnist.path, tmp_path, "--epochs", 1, "--save-model")
    assert code == 0
    usual = 0o666 & ~current_umask()
    for name in ("losses.png", "history.json", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == usual, name
