"""Train the tutorial's network on MNIST, test it after every epoch, and plot how it went.

    python main.py                       # 25 epochs on the files in data/
    python main.py --epochs 3 --no-show  # a shorter run that never opens a window
    python main.py --help                # every flag, with its default

It reads in the tutorial's order: imports, data loaders and parameters, the training
function, the testing function, and main. A run prints the tutorial's training lines and
a test summary per epoch, then saves into --output-dir (default results/):

    losses.png            training loss every --log-interval batches, test loss per epoch
    accuracy.png          test accuracy before training and after every epoch
    confusion_matrix.png  for each true class, what the last test pass predicted
    misclassified.png     up to 36 test images the last test pass got wrong
    history.json          the five lists the plots are drawn from, with the run's settings
    model.pt              the trained weights and class names, with --save-model

A saved model can be used again without training:

    python main.py --evaluate results/model.pt        # test it, save the two test plots
    python main.py --predict my7.png photo.jpg        # classify your own pictures

The same network learns any MNIST-format data set; --classes names its ten classes
(--classes fashion for Fashion-MNIST).

Bad input (a missing or damaged data file or picture, a file that is not a checkpoint, a
flag out of range) ends the run with one line on stderr and exit code 2. A training run
that breaks off (Ctrl-C, a loss that is no longer a number) still saves the history and
plots gathered so far.
"""

# -- imports --------------------------------------------------------------------------

from NeuralNetwork import NeuralNet
from MNISTDataset import MNISTDataset, MNISTDataError, collate_batch, mnist_paths
from MNISTDataset import load_split
import torch.nn as nn
import torch
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from MNISTDataset import CLASS_SETS, DIGIT_CLASSES, NUM_CLASSES, OneLineParser
from MNISTDataset import add_data_arguments, describe_folder, display_available
from MNISTDataset import fetch_missing_files, make_output_dir, prepare_digit_image
from checkpoint import CheckpointError, load_checkpoint, save_model, write_atomically
from pictures import plot_predictions, save_test_plots


# -- data loaders and parameters -----------------------------------------------------


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of at least 1, got {text}")
    return value


FLOAT32_MAX = torch.finfo(torch.float32).max  # the weights are float32
CHANCE_WARNING = 20  # percent: below this after an epoch, the network learns nothing


def as_number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text):
    value = as_number(text)
    if not 0 < value <= FLOAT32_MAX:
        raise argparse.ArgumentTypeError(
            f"must be a number above 0 and at most {FLOAT32_MAX:.3g}, got {text}")
    return value


def momentum_value(text):
    value = as_number(text)
    if not 0 <= value < 1:
        # with momentum 1 or more, past steps never fade and the weights run away
        raise argparse.ArgumentTypeError(
            f"must be at least 0 and below 1, got {text}")
    return value


def class_names(text):
    """--classes: 'digits', 'fashion', or ten different names separated by commas."""
    if text in CLASS_SETS:
        return list(CLASS_SETS[text])
    names = [name.strip() for name in text.split(",")]
    if len(names) != NUM_CLASSES:
        raise argparse.ArgumentTypeError(
            f"expected digits, fashion or {NUM_CLASSES} names separated by commas, got "
            f"{len(names)} name{'s' if len(names) != 1 else ''} in {text!r}")
    if not all(names) or len(set(names)) != NUM_CLASSES:
        raise argparse.ArgumentTypeError(
            f"the {NUM_CLASSES} class names must all differ and none be empty: {text!r}")
    return names


def parse_args(argv=None):
    parser = OneLineParser(
        prog="main.py",
        description="Train the tutorial's 784-100-50-10 network on MNIST-format files.",
    )
    add_data_arguments(parser, "plots, history and model")
    parser.add_argument("--epochs", type=positive_int, default=25,
                        help="number of epochs to train (default: 25)")
    parser.add_argument("--batch-size", type=positive_int, default=50,
                        help="training batch size (default: 50)")
    parser.add_argument("--test-batch-size", type=positive_int, default=1000,
                        help="test batch size (default: 1000)")
    parser.add_argument("--lr", type=positive_float, default=0.2,
                        help="learning rate (default: 0.2)")
    parser.add_argument("--momentum", type=momentum_value, default=0.9,
                        help="SGD momentum, at least 0 and below 1 (default: 0.9)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed (default: 1)")
    parser.add_argument("--log-interval", type=positive_int, default=100,
                        help="batches between training log lines (default: 100)")
    parser.add_argument("--save-model", action="store_true",
                        help="save the trained weights as model.pt in --output-dir "
                        "(default: off)")
    parser.add_argument("--dry-run", action="store_true",
                        help="one training batch and one test pass, to check the setup; "
                        "writes into a dry-run folder inside --output-dir (default: off)")
    parser.add_argument("--device", default="auto",
                        choices=["auto", "cpu", "cuda", "mps"],
                        help="where to train; auto picks cuda, then mps, then cpu "
                        "(default: auto)")
    parser.add_argument("--classes", type=class_names, default=None,
                        help="names of the ten classes, for plots and predictions: "
                        "digits, fashion (Fashion-MNIST) or ten names separated by "
                        "commas (default: digits, or the checkpoint's own with "
                        "--evaluate and --predict)")
    use = parser.add_mutually_exclusive_group()
    use.add_argument("--evaluate", metavar="PATH",
                     help="no training: test the model saved at PATH on the test set of "
                     "--data-dir and save its test plots in an evaluation folder inside "
                     "--output-dir (default: off)")
    use.add_argument("--predict", metavar="IMAGE", nargs="+",
                     help="no training: classify your own pictures (PNG, JPG, ...) with "
                     "the model at --checkpoint, and save them as the network sees them "
                     "in predictions.png in --output-dir (default: off)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="the saved model --predict uses (default: model.pt in "
                        "--output-dir)")
    args = parser.parse_args(argv)

    if args.save_model and (args.evaluate or args.predict):
        parser.error("--save-model saves a model after training; --evaluate and "
                     "--predict do not train, so leave it out")
    if args.checkpoint and not args.predict:
        parser.error("--checkpoint names the model for --predict; to test a saved model "
                     "use --evaluate PATH")
    if args.predict and not args.checkpoint:
        args.checkpoint = str(Path(args.output_dir) / "model.pt")
    if not args.download and not args.predict and not Path(args.data_dir).is_dir():
        parser.error(
            f"--data-dir {describe_folder(args.data_dir)} is not a folder; pass the "
            "folder that holds the MNIST files, or add --download to fetch them into it"
        )
    args.device = pick_device(args.device, parser)
    return args


def pick_device(name, parser):
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        parser.error(
            f"--device {name} is not available on this machine; use --device cpu")
    return torch.device(name)


@dataclass
class History:
    """What the tutorial collects during a run, list by list."""

    train_losses: list = field(default_factory=list)  # loss every log_interval batches
    train_counter: list = field(default_factory=list)  # training examples seen by then
    test_losses: list = field(default_factory=list)  # mean test loss, per test pass
    test_accuracy: list = field(default_factory=list)  # percent correct, per test pass
    test_counter: list = field(default_factory=list)  # examples seen at each test pass


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number."""


# -- training function ---------------------------------------------------------------


def train(epoch, neural_net, training_loader, optimizer, loss_function, history,
          log_interval=100, device="cpu", max_batches=None):
    """Train for one epoch; log and record the loss every `log_interval` batches.

    Returns the mean training loss of the epoch. Raises TrainingDiverged, naming the
    epoch and batch, as soon as the loss is not a finite number.
    """
    neural_net.train()
    dataset_size = len(training_loader.dataset)
    batch_size = training_loader.batch_size
    total_loss, batches = 0.0, 0

    for batch_idx, (images, labels) in enumerate(training_loader):
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()

        output = neural_net(images)

        loss = loss_function(output, labels)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"the training loss became {loss_value} in epoch {epoch}, batch "
                f"{batch_idx}: the steps are too large for this data (try a smaller "
                "--lr, or a smaller --momentum)"
            )

        loss.backward()
        optimizer.step()
        total_loss += loss_value
        batches += 1

        if batch_idx % log_interval == 0:
            percent = 100 * batch_idx / len(training_loader)
            print(f"Train Epoch: {epoch} [{batch_idx * batch_size}/{dataset_size} "
                  f"({percent:.0f}%)]\tLoss: {loss_value:.6f}")
            history.train_losses.append(loss_value)
            history.train_counter.append(
                (batch_idx * batch_size) + ((epoch - 1) * dataset_size))

        if max_batches is not None and batches >= max_batches:
            break

    return total_loss / max(batches, 1)


# -- testing function ----------------------------------------------------------------


def test(neural_net, test_loader, loss_function, device="cpu", predictions=None):
    """Run the whole test set through the network, without learning from it.

    Returns (mean loss per image, number correct, number of images). When `predictions`
    is a list, each batch's predicted classes are appended to it as a tensor (on the CPU,
    in the loader's order), for the confusion matrix and the misclassified images.
    """
    neural_net.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            output = neural_net(images)
            # loss_function averages over the batch; weight it by the batch's size
            total_loss += loss_function(output, labels).item() * len(labels)
            predicted = output.argmax(dim=1)
            correct += (predicted == labels).sum().item()
            count += len(labels)
            if predictions is not None:
                predictions.append(predicted.cpu())
    return total_loss / count, correct, count


def record_test(history, result, examples_seen):
    """Append one test pass to the history and print its summary line."""
    test_loss, correct, count = result
    accuracy = 100 * correct / count
    history.test_losses.append(test_loss)
    history.test_accuracy.append(accuracy)
    history.test_counter.append(examples_seen)
    print(f"\nTest set: Avg. loss: {test_loss:.4f}, "
          f"Accuracy: {correct}/{count} ({accuracy:.2f}%)\n")
    return accuracy


# -- saving what a run produced ------------------------------------------------------


def save_history(history, settings, output_dir):
    path = Path(output_dir) / "history.json"
    text = json.dumps({"settings": settings, **asdict(history)}, indent=1)
    write_atomically(path, lambda file: file.write(text.encode()))
    return path


def plot_history(history, output_dir):
    """Save the loss and accuracy plots as PNGs; return the figures and their paths."""
    output_dir = Path(output_dir)

    loss_figure, axes = plt.subplots(figsize=(8, 4.5))
    few = len(history.train_losses) < 3  # a line needs points to join: mark them too
    axes.plot(history.train_counter, history.train_losses, color="tab:blue",
              marker="o" if few else None, label="training loss")
    axes.scatter(history.test_counter, history.test_losses, color="tab:red", zorder=3,
                 label="test loss (mean)")
    axes.set_xlabel("number of training examples seen")
    axes.set_ylabel("cross-entropy loss")
    axes.set_title("Loss")
    axes.legend()
    loss_figure.tight_layout()

    accuracy_figure, axes = plt.subplots(figsize=(8, 4.5))
    epochs = range(len(history.test_accuracy))
    axes.plot(epochs, history.test_accuracy, marker="o", color="tab:green")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs only
    axes.set_xlabel("epoch (0 = before training)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title("Test accuracy")
    axes.grid(alpha=0.3)
    accuracy_figure.tight_layout()

    paths = []
    for figure, name in ((loss_figure, "losses.png"), (accuracy_figure, "accuracy.png")):
        paths.append(output_dir / name)
        figure.savefig(paths[-1], dpi=100)
    return [loss_figure, accuracy_figure], paths


# -- using a saved model -------------------------------------------------------------


def classify(neural_net, images, device="cpu"):
    """The network's probability for each class: the softmax of its outputs, (N, 10)."""
    neural_net.eval()
    with torch.no_grad():
        return torch.softmax(neural_net(images.to(device)), dim=1).cpu()


def evaluate(args):
    """--evaluate: test a saved model on the test set, save its test plots. Exit code."""
    neural_net, saved_classes, settings = load_checkpoint(args.evaluate, args.device)
    classes = args.classes or saved_classes or DIGIT_CLASSES
    test_dataset = load_split(args.data_dir, "test")
    test_loader = torch.utils.data.DataLoader(
        test_dataset, batch_size=args.test_batch_size, shuffle=False,
        collate_fn=collate_batch)
    print(f"Testing {args.evaluate} on the {len(test_dataset)} test images in "
          f"{args.data_dir}")

    predicted = []
    result = test(neural_net, test_loader, nn.CrossEntropyLoss(), args.device, predicted)
    accuracy = record_test(History(), result, 0)
    if accuracy < CHANCE_WARNING:
        if settings:
            epochs = settings.get("epochs_finished", settings.get("epochs"))
            trained = f"it had {epochs} epoch(s) on {settings.get('data_dir')}"
        else:
            trained = "the file does not say what it was trained on"
        print(f"warning: the accuracy is {accuracy:.1f}%, close to guessing: the model "
              f"is barely trained, or trained on other data ({trained})", file=sys.stderr)

    # in a folder of its own, so that the training run's pictures stay as they are
    output_dir = make_output_dir(Path(args.output_dir) / "evaluation")
    written = save_test_plots(test_dataset, torch.cat(predicted), classes, output_dir)
    print("Saved " + ", ".join(str(path) for path in written))
    return 0


def predict(args):
    """--predict: classify the given pictures, one line each, and save predictions.png."""
    neural_net, saved_classes, _ = load_checkpoint(args.checkpoint, args.device)
    classes = args.classes or saved_classes or DIGIT_CLASSES
    names, images, failed = [], [], 0
    for path in args.predict:
        try:
            images.append(prepare_digit_image(path))
            names.append(path)
        except MNISTDataError as error:  # say so, and go on with the other pictures
            print(f"error: {error}", file=sys.stderr)
            failed += 1
    if not images:
        return 2
    images = torch.stack(images)
    probabilities = classify(neural_net, images, args.device)

    for name, chances in zip(names, probabilities):
        top = chances.topk(3)
        ranked = ", ".join(f"{classes[index]} {100 * chance:.1f}%"
                           for chance, index in zip(top.values, top.indices))
        print(f"{name}: {classes[top.indices[0]]}  ({ranked})")

    path = make_output_dir(args.output_dir) / "predictions.png"
    figure = plot_predictions(images, names, probabilities, classes, path)
    print(f"Saved {path}")
    if not args.no_show and display_available():
        plt.show()
    plt.close(figure)
    return 2 if failed else 0


# -- main ----------------------------------------------------------------------------


def run(args):
    """Load the data, train and test, and save what was gathered. Returns an exit code."""
    # Seed first, before the network and the loaders exist: the network's initial weights
    # and the order of the shuffled batches both come from this seed.
    torch.manual_seed(args.seed)

    train_images, train_labels = mnist_paths(args.data_dir, "train")
    test_images, test_labels = mnist_paths(args.data_dir, "test")
    training_dataset = MNISTDataset(train_images, train_labels)
    test_dataset = MNISTDataset(test_images, test_labels)
    if len(test_dataset) == len(training_dataset) and torch.equal(
            test_dataset.images[:100], training_dataset.images[:100]):
        print(f"warning: the test images in '{test_images}' are the training images; "
              "the test accuracy will say how well the network remembers, not how well "
              "it reads digits it has not seen: use the t10k files for testing",
              file=sys.stderr)

    # the training loader shuffles with its own generator, so that its order depends on
    # the seed alone; collate_batch lets it fetch each batch in one step
    loader_generator = torch.Generator().manual_seed(args.seed)
    training_loader = torch.utils.data.DataLoader(
        training_dataset, batch_size=args.batch_size, shuffle=True,
        generator=loader_generator, collate_fn=collate_batch)
    test_loader = torch.utils.data.DataLoader(
        test_dataset, batch_size=args.test_batch_size, shuffle=False,
        collate_fn=collate_batch)

    neural_net = NeuralNet().to(args.device)
    loss_function = nn.CrossEntropyLoss()
    # fused=True: the same SGD update, done for all six weight tensors in one kernel
    optimizer = torch.optim.SGD(neural_net.parameters(), lr=args.lr,
                                momentum=args.momentum, fused=True)

    history = History()
    classes = args.classes or DIGIT_CLASSES
    settings = {key: str(value) if isinstance(value, (Path, torch.device)) else value
                for key, value in vars(args).items()}
    settings["classes"] = classes
    # a dry run writes into a folder of its own, so that it never replaces a real run's
    output_dir = make_output_dir(Path(args.output_dir) / "dry-run" if args.dry_run
                                 else args.output_dir)
    epochs = 1 if args.dry_run else args.epochs
    settings["epochs"] = epochs  # a dry run's one

    plan = "a dry run: one batch" if args.dry_run else f"{args.epochs} epoch(s)"
    print(f"Training on {len(training_dataset)} images, testing on {len(test_dataset)}: "
          f"{plan} on {args.device}")
    start = time.perf_counter()
    exit_code, ended = 0, "finished"
    # NOTE: as in the tutorial, the test set is also what each epoch is judged on, so the
    # best epoch's accuracy is a little optimistic; a separate validation split would fix
    # that, at the price of departing from the tutorial's numbers.
    # the classes predicted by the latest finished test pass, for the confusion matrix and
    # the misclassified images (the test loader does not shuffle: dataset order)
    last_predicted = None
    # the weights as they were at the end of the latest finished epoch, and how many
    # epochs that is: what --save-model keeps when Ctrl-C stops a run mid-epoch
    finished_state, finished_epochs = None, 0
    try:
        if not args.dry_run:
            predicted = []
            result = test(neural_net, test_loader, loss_function, args.device, predicted)
            record_test(history, result, 0)
            last_predicted = torch.cat(predicted)
        for epoch in range(1, epochs + 1):
            epoch_start = time.perf_counter()
            train_loss = train(epoch, neural_net, training_loader, optimizer,
                               loss_function, history, args.log_interval, args.device,
                               max_batches=1 if args.dry_run else None)
            seen = (min(args.batch_size, len(training_dataset)) if args.dry_run
                    else epoch * len(training_dataset))
            predicted = []
            result = test(neural_net, test_loader, loss_function, args.device, predicted)
            accuracy = record_test(history, result, seen)
            last_predicted = torch.cat(predicted)
            if args.save_model:
                finished_state = {name: value.detach().clone()
                                  for name, value in neural_net.state_dict().items()}
            finished_epochs = epoch
            print(f"Epoch {epoch}/{epochs}: train loss {train_loss:.4f}, test loss "
                  f"{history.test_losses[-1]:.4f}, accuracy {accuracy:.2f}%, "
                  f"{time.perf_counter() - epoch_start:.1f} s")
            if epoch == 1 and not args.dry_run and accuracy < CHANCE_WARNING:
                print(f"warning: after one epoch the test accuracy is {accuracy:.1f}%, "
                      "close to guessing (10%); likely causes: images not scaled to "
                      "[0, 1], labels that do not match the images, or a learning rate "
                      "far too high or low (--lr)", file=sys.stderr)
    except TrainingDiverged as error:
        print(f"error: {error}; the history so far is saved", file=sys.stderr)
        if args.save_model:
            print("The model is not saved: its weights are no longer numbers",
                  file=sys.stderr)
        exit_code, ended = 1, "stopped: the loss diverged"
    except KeyboardInterrupt:
        print("\nInterrupted: saving what was gathered so far", file=sys.stderr)
        exit_code, ended = 130, "interrupted"
    elapsed = time.perf_counter() - start
    # the training images (180 MB) are not needed any more: free them before plotting
    del training_loader, training_dataset

    settings["ended"] = ended
    written = [save_history(history, settings, output_dir)]
    figures, paths = plot_history(history, output_dir)
    written += paths
    if last_predicted is not None:  # only after at least one whole test pass
        written += save_test_plots(test_dataset, last_predicted, classes, output_dir)
    settings["epochs_finished"] = finished_epochs
    if args.save_model and exit_code == 0:
        written.append(save_model(neural_net, settings, output_dir, classes))
    elif args.save_model and exit_code == 130 and finished_state is not None:
        # the network as it was after its last whole epoch, matching history and plots
        neural_net.load_state_dict(finished_state)
        written.append(save_model(neural_net, settings, output_dir, classes))
        print(f"The model saved is the one after epoch {finished_epochs}",
              file=sys.stderr)
    elif args.save_model and exit_code == 130:
        print("The model is not saved: no epoch was finished", file=sys.stderr)

    if history.test_accuracy:
        print(f"Final test accuracy {history.test_accuracy[-1]:.2f}% "
              f"(best {max(history.test_accuracy):.2f}%), {ended} in {elapsed:.1f} s")
    print("Saved " + ", ".join(str(path) for path in written))

    if not args.no_show and exit_code == 0 and display_available():
        plt.show()
    for figure in figures:
        plt.close(figure)
    return exit_code


def main(argv=None):
    args = parse_args(argv)
    if args.no_show:
        plt.switch_backend("Agg")
    try:
        make_output_dir(args.output_dir)  # a bad --output-dir is found before any work
        if args.predict:
            return predict(args)
        if args.download and not fetch_missing_files(args.data_dir):
            return 1
        if args.evaluate:
            return evaluate(args)
        return run(args)
    except (MNISTDataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while loading or predicting (run() handles training's)
        print("\nInterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
