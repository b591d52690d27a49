"""Time the tutorial's pipeline, this project's and a bare loop, side by side.

    python benchmarks/bench_training.py [--epochs N] [--full]

Three ways of training the tutorial's network (784-100-50-10 with sigmoids,
CrossEntropyLoss, SGD lr 0.2 momentum 0.9, shuffled batches of 50, seed 1):

    tutorial  the tutorial's own code: its gzip/numpy parsing, a Dataset with only
              __getitem__, DataLoader(batch_size=50, shuffle=True) with the default
              collation, torch's default settings
    product   what main.py does: its MNISTDataset loading (as load_split does), its
              DataLoaders, main.train / main.test, driven through main.main() itself
    bare      batches sliced straight out of the product's tensors with a seeded
              randperm, and the product's thread count and optimizer: the floor

Each pipeline runs in a fresh copy of this script (--only NAME --json), so that its
peak RSS is its own: one load of the four files, a test pass, then 1 + N epochs each
followed by a test pass. The first epoch and the first test pass are warm-up; the
table shows the medians of the rest. The load time is the median of --load-repeats
loads, in another fresh process (repeated loads would inflate the peak RSS).

Then whole programs are timed end to end, imports included: `python main.py` against
the tutorial's program (this script with --tutorial-run), for 3 epochs by default or
the default 25 epochs with --full (1-2 minutes), and the peak RSS of
`python main.py --no-show --epochs 1` is read with /usr/bin/time -v.

The report is markdown on stdout; progress goes to stderr. This 2-thread workload
slows down many times over when other programs use the CPUs, so every measurement
also records how busy the machine was otherwise: before each one the script waits
for a quiet machine (--wait-quiet) and measures again when it was not (--retries).
"""

import argparse
import contextlib
import gzip
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the product's modules live at the repository root

PIPELINES = ("tutorial", "product", "bare")
SEED = 1
BATCH_SIZE = 50
TEST_BATCH_SIZE = 1000
LR, MOMENTUM = 0.2, 0.9
BUSY_CORES = 0.2  # more background load than this and the report warns

# (title, numerator pipeline, denominator pipeline, measure, target): a ratio passes
# when it is at most its target
TARGETS = [
    ("product / tutorial, s per epoch", "product", "tutorial", "epoch_s", 0.5),
    ("product / bare, s per epoch", "product", "bare", "epoch_s", 1.1),
    ("product / tutorial, load time", "product", "tutorial", "load_s", 0.3),
]


def log(message):
    print(message, file=sys.stderr, flush=True)


def median_time(function, repeats):
    """Call function() `repeats` times; return the median of the wall times."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def peak_rss_mib():
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BackgroundLoad:
    """How many cores other programs kept busy while a `with` block ran.

    The machine's busy time (from /proc/stat, hypervisor steal included) minus the CPU
    time of this process and of the children it waited for, per second of wall time.
    On a shared machine this says which numbers were taken while something else ran.
    """

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        wall, busy, own = (b - a for a, b in zip(self.start, self._sample()))
        self.cores = max(0.0, busy - own) / wall if busy is not None else None

    @staticmethod
    def _sample():
        own = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            own += usage.ru_utime + usage.ru_stime
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            # user nice system idle iowait irq softirq steal: all but idle and iowait
            ticks = sum(int(fields[i]) for i in (0, 1, 2, 5, 6, 7))
            busy = ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            busy = None
        return time.perf_counter(), busy, own


# -- (a) the tutorial's code, as printed in the tutorial -----------------------------


class TutorialDataset(Dataset):
    """The tutorial's MNISTDataset ("Dataset - Final Code"): only __getitem__."""

    def __init__(self, image_data_root, label_data_root):
        self.image_data_root = image_data_root
        self.label_data_root = label_data_root
        self.image_init_dataset()
        self.label_init_dataset()

    def __len__(self):
        return self.num_images

    def __getitem__(self, idx):
        return self.images[idx], self.labels[idx]

    def image_init_dataset(self):
        # as the tutorial does it: gzip.open, a big-endian header, then
        # frombuffer -> astype(float32) -> reshape -> /255 -> torch.tensor (a copy)
        image_file = gzip.open(self.image_data_root, "r")
        reorder_type = np.dtype(np.int32).newbyteorder(">")
        header = [np.frombuffer(image_file.read(4), dtype=reorder_type)[0]
                  for _ in range(4)]  # the tutorial reads these one line each
        (self.image_magic_number, self.num_images, self.image_rows,
         self.image_columns) = header
        buffer = image_file.read(self.num_images * self.image_rows * self.image_columns)
        self.images = np.frombuffer(buffer, dtype=np.uint8).astype(np.float32)
        self.images = np.reshape(self.images, (self.num_images, 784))
        self.images = self.images / 255
        self.images = torch.tensor(self.images)

    def label_init_dataset(self):
        label_file = gzip.open(self.label_data_root, "r")
        reorder_type = np.dtype(np.int32).newbyteorder(">")
        self.label_magic_number = np.frombuffer(
            label_file.read(4), dtype=reorder_type).astype(np.int64)[0]
        self.num_labels = np.frombuffer(
            label_file.read(4), dtype=reorder_type).astype(np.int64)[0]
        buffer = label_file.read(self.num_labels)
        self.labels = np.frombuffer(buffer, dtype=np.uint8)
        self.labels = torch.tensor(self.labels, dtype=torch.long)


class TutorialNet(nn.Module):
    """The tutorial's NeuralNet (the product's NeuralNetwork.py holds the same)."""

    def __init__(self):
        super().__init__()
        self.linear1 = nn.Linear(784, 100)
        self.linear2 = nn.Linear(100, 50)
        self.linear3 = nn.Linear(50, 10)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        x = self.sigmoid(self.linear1(x))
        x = self.sigmoid(self.linear2(x))
        return self.linear3(x)


def tutorial_paths(data_dir):
    data_dir = Path(data_dir)
    return [(data_dir / f"{split}-images-idx3-ubyte.gz",
             data_dir / f"{split}-labels-idx1-ubyte.gz") for split in ("train", "t10k")]


def load_tutorial(data_dir):
    return [TutorialDataset(*paths) for paths in tutorial_paths(data_dir)]


class TutorialProgram:
    """The tutorial's main.py: its loaders, parameters, train() and test()."""

    def __init__(self, training_dataset, test_dataset):
        # seeded before the network exists (the tutorial seeds a little later, after
        # building it; that changes the initial weights, not the time)
        torch.manual_seed(SEED)
        self.training_loader = DataLoader(training_dataset, batch_size=BATCH_SIZE,
                                          shuffle=True)
        self.test_loader = DataLoader(test_dataset, batch_size=TEST_BATCH_SIZE,
                                      shuffle=True)
        self.neural_net = TutorialNet()
        self.loss_function = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.neural_net.parameters(), lr=LR,
                                         momentum=MOMENTUM)
        self.train_losses, self.train_counter = [], []
        self.test_losses, self.test_accuracy = [], []

    def train(self, epoch):
        loader = self.training_loader
        for batch_idx, (images, labels) in enumerate(loader):
            self.optimizer.zero_grad()
            output = self.neural_net(images)
            loss = self.loss_function(output, labels)
            loss.backward()
            self.optimizer.step()
            if batch_idx % 100 == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * BATCH_SIZE}/"
                      f"{len(loader.dataset)} ({100 * batch_idx / len(loader):.0f}%)]"
                      f"\tLoss: {loss.item():.6f}")
                self.train_losses.append(loss.item())
                self.train_counter.append(
                    batch_idx * BATCH_SIZE + (epoch - 1) * len(loader.dataset))

    # test() and tutorial_run() follow the tutorial's last sections (the testing
    # function and the main), which come after the part copied in shared/tutorial
    def test(self):
        test_loss, correct = 0, 0
        with torch.no_grad():
            for images, labels in self.test_loader:
                output = self.neural_net(images)
                test_loss += self.loss_function(output, labels).item()
                guesses = torch.max(output, 1, keepdim=True)[1]
                correct += torch.eq(guesses, labels.data.view_as(guesses)).sum()
        size = len(self.test_loader.dataset)
        test_loss /= size / TEST_BATCH_SIZE
        accuracy = float(correct) / float(size)
        self.test_losses.append(test_loss)
        self.test_accuracy.append(accuracy)
        print(f"\nTest set: Avg. loss: {test_loss:.4f}, Accuracy: {correct}/{size} "
              f"({100.0 * accuracy:.0f}%)\n")
        return 100 * accuracy


def tutorial_run(data_dir, epochs, output_dir):
    """The tutorial's whole program, end to end, for the wall-time comparison."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # the tutorial's modules both import pyplot

    program = TutorialProgram(*load_tutorial(data_dir))
    program.test()
    for epoch in range(1, epochs + 1):
        program.train(epoch)
        program.test()
    print(f"Total epochs: {epochs}")
    print(f"Max Accuracy is: {round(100 * max(program.test_accuracy), 2)}%")

    # the tutorial's one figure; saved, where the tutorial leaves it to the notebook
    test_counter = [n * len(program.training_loader.dataset) for n in range(epochs + 1)]
    fig = plt.figure()
    plt.plot(program.train_counter, program.train_losses, color="blue", zorder=1)
    plt.scatter(test_counter, program.test_losses, color="red", zorder=2)
    plt.scatter(test_counter, program.test_accuracy, color="green", marker="+",
                zorder=3)
    plt.legend(["Train Loss", "Test Loss", "Accuracy"], loc="upper right")
    plt.xlabel("number of training examples seen")
    plt.ylabel("negative log likelihood loss")
    fig.savefig(Path(output_dir) / "tutorial.png")


# -- the three pipelines, one per worker process -------------------------------------


# Each worker does one load and trains on it, so that its peak RSS is a real run's:
# repeated loads in the same process leave freed blocks behind (the tutorial's 31 MB
# test-set temporaries end up on the heap) and would inflate it. The median load time
# comes from a separate process (--loads-only).


def worker_tutorial(args):
    import matplotlib.pyplot  # noqa: F401  the tutorial's files import it: count it

    start = time.perf_counter()
    datasets = load_tutorial(args.data_dir)
    first_load = time.perf_counter() - start
    program = TutorialProgram(*datasets)
    epoch_s, test_s, accuracy = train_and_test(program.train, program.test, args.epochs)
    return {"first_load_s": first_load, "epoch_all": epoch_s, "test_all": test_s,
            "accuracy": accuracy, "settings": current_settings(program.optimizer)}


def worker_product(args):
    import main as product  # also imports MNISTDataset, NeuralNetwork and pyplot
    import MNISTDataset as product_data

    times = {"load": [], "train": [], "test": []}
    seen = {}

    # main.run builds its two datasets with the MNISTDataset class (load_split too):
    # a subclass that times its own construction stands in for it in both modules
    class TimedDataset(product_data.MNISTDataset):
        def __init__(self, *call_args, **kwargs):
            start = time.perf_counter()
            super().__init__(*call_args, **kwargs)
            times["load"].append(time.perf_counter() - start)

    for module in (product, product_data):
        if hasattr(module, "MNISTDataset"):
            module.MNISTDataset = TimedDataset

    # main.run looks train() and test() up as module globals at each call, so it picks
    # these timed wrappers up; the optimizer passed to train() tells its settings
    def timed(name, function):
        def wrapper(*call_args, **kwargs):
            if name == "train":
                optimizer = next((a for a in (*call_args, *kwargs.values())
                                  if isinstance(a, torch.optim.Optimizer)), None)
                seen["settings"] = current_settings(optimizer)
            start = time.perf_counter()
            result = function(*call_args, **kwargs)
            times[name].append(time.perf_counter() - start)
            if name == "test":
                seen["accuracy"] = 100 * result[1] / result[2]
            return result
        return wrapper

    product.train = timed("train", product.train)
    product.test = timed("test", product.test)
    with tempfile.TemporaryDirectory() as output_dir:
        code = product.main(["--data-dir", str(args.data_dir),
                             "--epochs", str(args.epochs + 1),
                             "--no-show", "--output-dir", output_dir])
    if code != 0:
        raise SystemExit(f"main.main() ended with exit code {code}")
    # the two splits; None when main.py no longer loads through the class
    first_load = sum(times["load"]) if len(times["load"]) == 2 else None
    return {"first_load_s": first_load, "epoch_all": times["train"],
            "test_all": times["test"], "accuracy": seen["accuracy"],
            "settings": seen["settings"]}


def product_split(data_dir, split):
    """One split loaded as main.run loads it (the same as MNISTDataset.load_split)."""
    from MNISTDataset import MNISTDataset, mnist_paths
    return MNISTDataset(*mnist_paths(data_dir, split))


def load_product(data_dir):
    return [product_split(data_dir, split) for split in ("train", "test")]


def worker_bare(args):
    from NeuralNetwork import NeuralNet

    # the product's thread count and optimizer, as the product worker saw them
    settings = json.loads(args.settings) if args.settings else {}
    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
    optimizer_class = getattr(torch.optim, settings.get("optimizer", "SGD"))
    optimizer_options = settings.get("options", {"lr": LR, "momentum": MOMENTUM})

    # the tensors come from the product's loader
    start = time.perf_counter()
    train_set, test_set = load_product(args.data_dir)
    first_load = time.perf_counter() - start
    images, labels = train_set.images, train_set.labels
    test_images, test_labels = test_set.images, test_set.labels
    n, n_test = len(labels), len(test_labels)

    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    net = NeuralNet()
    loss_function = nn.CrossEntropyLoss()
    optimizer = optimizer_class(net.parameters(), **optimizer_options)

    def inputs(pixels):
        # should the product keep its pixels as bytes, scale them batch by batch
        return pixels.to(torch.float32).div_(255) if pixels.dtype == torch.uint8 \
            else pixels

    def train(epoch):
        net.train()
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, BATCH_SIZE):
            batch = perm[i:i + BATCH_SIZE]
            optimizer.zero_grad()
            loss_function(net(inputs(images[batch])), labels[batch]).backward()
            optimizer.step()

    def test():
        net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, n_test, TEST_BATCH_SIZE):
                output = net(inputs(test_images[i:i + TEST_BATCH_SIZE]))
                target = test_labels[i:i + TEST_BATCH_SIZE]
                loss_function(output, target).item()
                correct += (output.argmax(dim=1) == target).sum().item()
        return 100 * correct / n_test

    epoch_s, test_s, accuracy = train_and_test(train, test, args.epochs)
    return {"first_load_s": first_load, "epoch_all": epoch_s, "test_all": test_s,
            "accuracy": accuracy, "settings": current_settings(optimizer)}


def worker_loads(args):
    """--loads-only: the median time of --load-repeats loads of the four files."""
    load = {"tutorial": load_tutorial, "product": load_product}[args.only]
    load_s, load_all = median_time(lambda: load(args.data_dir), args.load_repeats)
    return {"load_s": load_s, "load_all": load_all}


def train_and_test(train, test, epochs):
    """main.py's schedule: a test pass, then 1 + `epochs` epochs, each then tested."""
    epoch_times, test_times = [], []
    accuracy = None
    for epoch in range(epochs + 2):
        if epoch > 0:
            start = time.perf_counter()
            train(epoch)
            epoch_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        accuracy = test()
        test_times.append(time.perf_counter() - start)
    return epoch_times, test_times, accuracy


def current_settings(optimizer):
    """Threads and optimizer options in force, as JSON-friendly values."""
    settings = {"threads": torch.get_num_threads()}
    if optimizer is not None:
        settings["optimizer"] = type(optimizer).__name__
        plain = (bool, int, float, str, type(None))
        settings["options"] = {key: value for key, value in optimizer.defaults.items()
                               if isinstance(value, plain)}
    return settings


def run_worker(args):
    """--only NAME: run one pipeline here, print its results as one JSON line."""
    if args.loads_only:
        result = worker_loads(args)
    else:
        worker = {"tutorial": worker_tutorial, "product": worker_product,
                  "bare": worker_bare}[args.only]
        # the pipelines' own log lines would bury the JSON: send them to /dev/null
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            result = worker(args)
        # skip the warm-up epoch and the test pass before training
        result["epoch_s"] = statistics.median(result["epoch_all"][1:])
        result["test_s"] = statistics.median(result["test_all"][1:])
    result["rss_mib"] = peak_rss_mib()  # read last: the peak of the whole process
    print(json.dumps(result) if args.json else result)


# -- the parent: start the workers and the whole programs, then report ---------------


def wait_for_quiet(max_wait):
    """Wait, at most `max_wait` seconds, until other programs leave the CPUs alone."""
    deadline = time.monotonic() + max_wait
    streak, waited = 0, False
    while time.monotonic() < deadline:
        with BackgroundLoad() as background:
            time.sleep(1)
        if background.cores is None:
            return
        if background.cores < BUSY_CORES:
            streak += 1
            if streak >= (2 if waited else 1):  # after a busy spell, 2 quiet seconds
                return
        else:
            if not waited:
                log(f"  other programs keep {background.cores:.1f} cores busy: "
                    f"waiting up to {max_wait:.0f} s for them...")
            streak, waited = 0, True
    log("  still busy: measuring anyway")


def measure(what, function, args):
    """function() on a quiet machine if possible; again (--retries) if it was not."""
    for attempt in range(args.retries + 1):
        if args.wait_quiet > 0:
            wait_for_quiet(args.wait_quiet)
        log(what + ("" if attempt == 0 else f" (again, {attempt + 1})") + "...")
        result = function()
        if (result["background"] or 0) <= BUSY_CORES:
            break
        log(f"  other programs kept {result['background']:.1f} cores busy meanwhile")
    result["attempts"] = attempt + 1
    return result


def run_child(command, cwd=REPO):
    """Run a command, its output discarded: wall time, peak RSS, background load."""
    with BackgroundLoad() as background:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
        # wait4 gives the rusage of this one child (RUSAGE_CHILDREN would give the
        # largest of every child so far)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({child.returncode})")
    return {"wall_s": wall, "rss_mib": usage.ru_maxrss / 1024,
            "background": background.cores}


def run_pipeline(name, args, settings=None, loads_only=False):
    """One pipeline in a fresh copy of this script; its JSON line as a dict."""
    command = [sys.executable, __file__, "--only", name, "--json", "--epochs",
               str(args.epochs), "--load-repeats", str(args.load_repeats),
               "--data-dir", str(args.data_dir)]
    if settings:
        command += ["--settings", json.dumps(settings)]
    if loads_only:
        command.append("--loads-only")

    def once():
        with BackgroundLoad() as background:
            output = subprocess.run(command, cwd=REPO, check=True, capture_output=True,
                                    text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        result["background"] = background.cores
        return result

    what = (f"{args.load_repeats} loads, {name}" if loads_only
            else f"the {name} pipeline ({args.epochs} + 1 epochs)")
    return measure(what, once, args)


def main_py_rss(data_dir):
    """Peak RSS of `python main.py --no-show --epochs 1`, and how it was read."""
    with tempfile.TemporaryDirectory() as output_dir:
        command = [sys.executable, "main.py", "--no-show", "--epochs", "1",
                   "--data-dir", str(data_dir), "--output-dir", output_dir]
        time_binary = shutil.which("time") or "/usr/bin/time"
        if os.access(time_binary, os.X_OK):
            done = subprocess.run([time_binary, "-v", *command], cwd=REPO, text=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                              done.stderr)
            if done.returncode == 0 and found:
                return int(found.group(1)) / 1024, "/usr/bin/time -v"
        return run_child(command)["rss_mib"], "os.wait4 rusage"


def whole_runs(args):
    """Wall time and peak RSS of main.py and of the tutorial's program, end to end."""
    epochs = 25 if args.full else 3
    repeats = args.whole_repeats or (1 if args.full else 3)
    runs = {"main.py": [], "tutorial": []}
    with tempfile.TemporaryDirectory() as output_dir:
        main_command = [sys.executable, "main.py", "--no-show",
                        "--output-dir", output_dir, "--data-dir", str(args.data_dir)]
        if not args.full:
            main_command += ["--epochs", str(epochs)]  # 25 is main.py's default
        tutorial_command = [sys.executable, __file__, "--tutorial-run", str(epochs),
                            "--data-dir", str(args.data_dir),
                            "--output-dir", output_dir]
        for repeat in range(repeats):  # alternate, so that drift hits both alike
            for name, command in (("main.py", main_command),
                                  ("tutorial", tutorial_command)):
                what = f"whole run of {name}, {epochs} epochs ({repeat + 1}/{repeats})"
                runs[name].append(measure(what, lambda: run_child(command), args))
    summary = {name: {"wall_s": statistics.median(r["wall_s"] for r in rows),
                      "walls": [r["wall_s"] for r in rows],
                      "rss_mib": max(r["rss_mib"] for r in rows),
                      "background": max(r["background"] or 0 for r in rows),
                      "attempts": max(r["attempts"] for r in rows)}
               for name, rows in runs.items()}
    return epochs, repeats, summary


def cpu_model():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def machine_lines(product_settings):
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    optimizer = product_settings.get("options", {})
    return [
        f"- CPU: {cpu_model()}, {cores} logical cores ({usable} usable)",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}",
        f"- torch threads by default: {torch.get_num_threads()} intra-op, "
        f"{torch.get_num_interop_threads()} inter-op; in main.py's training: "
        f"{product_settings.get('threads')}",
        f"- main.py's optimizer: {product_settings.get('optimizer')} "
        f"(foreach={optimizer.get('foreach')}, fused={optimizer.get('fused')})",
        f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
    ]


def verdict(value, target):
    return "PASS" if value <= target else f"MISS (+{(value / target - 1) * 100:.0f}%)"


def busy(row):
    """The background column: cores used by others, and which try this was."""
    value = row["background"]
    text = "?" if value is None else f"{value:.2f}"
    return text + (f" (try {row['attempts']})" if row.get("attempts", 1) > 1 else "")


def report(args, results, rss_main, rss_how, whole):
    epochs, repeats, summary = whole
    product = results["product"]
    print("## Training benchmark\n")
    print(*machine_lines(product["settings"]), sep="\n")
    print(f"\nPer pipeline, each in a fresh process: load = median of "
          f"{args.load_repeats} loads of the four files (in a process of their own); "
          "first load = the one load of the training process; s/epoch = median of "
          f"{args.epochs} epochs after one warm-up epoch; test = median of the "
          f"{args.epochs + 1} test passes after training began; peak RSS = ru_maxrss "
          "at the end of the process; background = cores kept busy by other programs "
          "meanwhile (0 on a quiet machine; a busy measurement is taken again, up to "
          f"{args.retries} times).\n")
    print("| pipeline | load (s) | first load (s) | s/epoch | epochs min-max (s) "
          "| test pass (s) | peak RSS (MiB) | accuracy (%) | background (cores) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in PIPELINES:
        row = results[name]
        load = f"{row['load_s']:.3f}" if row["load_s"] is not None else \
            f"{product['load_s']:.3f} (product's)"
        first = "?" if row["first_load_s"] is None else f"{row['first_load_s']:.3f}"
        timed = row["epoch_all"][1:]
        print(f"| {name} | {load} | {first} | {row['epoch_s']:.3f} | "
              f"{min(timed):.3f}-{max(timed):.3f} | {row['test_s']:.4f} | "
              f"{row['rss_mib']:.0f} | {row['accuracy']:.2f} | {busy(row)} |")
    print("\nThe product row runs main.main() itself (its RSS includes the plots it "
          "saves at the end); bare trains on the tensors of the product's loader "
          "(MNISTDataset, as main.run and load_split load it), loaded once, so its "
          "load time is the product's.\n")

    label = "default run, 25 epochs" if args.full else f"{epochs} epochs"
    how = "one run each" if repeats == 1 else f"median of {repeats} alternating runs"
    print(f"Whole programs, end to end ({label}, {how}; each starts Python, imports, "
          "loads, tests before training and after each epoch, and saves its plots):\n")
    print("| program | wall (s) | runs min-max (s) | peak RSS (MiB) "
          "| background (cores) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    shown = {"main.py": "`python main.py --no-show"
                        + ("`" if args.full else f" --epochs {epochs}`"),
             "tutorial": f"tutorial's program, {epochs} epochs"}
    for name, row in summary.items():
        print(f"| {shown[name]} | {row['wall_s']:.2f} | {min(row['walls']):.2f}-"
              f"{max(row['walls']):.2f} | {row['rss_mib']:.0f} | {busy(row)} |")
    print(f"| `python main.py --no-show --epochs 1` | | | {rss_main:.0f} ({rss_how}) "
          "| |")

    ratios = [(title, results[a][key], results[b][key], target)
              for title, a, b, key, target in TARGETS]
    ratios += [
        ("RSS `python main.py --epochs 1` / bare", rss_main, results["bare"]["rss_mib"],
         1.05),
        ("RSS `python main.py --epochs 1` / tutorial", rss_main,
         results["tutorial"]["rss_mib"], 0.9),
        (f"whole run wall, main.py / tutorial ({label})", summary["main.py"]["wall_s"],
         summary["tutorial"]["wall_s"], 0.6),
        # no target: the best s/epoch ratio any product could reach with these settings
        ("bare / tutorial, s per epoch (the floor, for context)",
         results["bare"]["epoch_s"], results["tutorial"]["epoch_s"], None),
        # what each pipeline adds on top of the bare loop: the loader's own cost
        ("(product - bare) / (tutorial - bare), s per epoch (for context)",
         results["product"]["epoch_s"] - results["bare"]["epoch_s"],
         results["tutorial"]["epoch_s"] - results["bare"]["epoch_s"], None),
        ("product / tutorial, first load in a fresh process (for context)",
         results["product"]["first_load_s"], results["tutorial"]["first_load_s"], None),
    ]
    print("\n| ratio | value | target | verdict |")
    print("| --- | ---: | ---: | --- |")
    for title, numerator, denominator, target in ratios:
        if numerator is None:  # main.py no longer loads through MNISTDataset
            continue
        value = numerator / denominator
        if target is None:
            print(f"| {title} | {value:.2f} | | |")
        else:
            print(f"| {title} | {value:.2f} | <= {target} | {verdict(value, target)} |")
    print("\nThe whole-run target aims at 0.5. MISS (+x%) says how far a ratio is "
          "above its target.")

    busiest = max([row["background"] or 0 for row in results.values()]
                  + [row.get("load_background") or 0 for row in results.values()]
                  + [row["background"] for row in summary.values()])
    if busiest > BUSY_CORES:
        print(f"\n**Warning**: other programs kept up to {busiest:.1f} cores busy "
              "during these measurements; timings of this 2-thread workload suffer "
              "badly from that. Rerun on a quiet machine before trusting them.")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per pipeline, after one warm-up "
                        "(default: 3)")
    parser.add_argument("--full", action="store_true",
                        help="compare whole default runs (25 epochs, 1-2 minutes) "
                        "instead of 3-epoch runs")
    parser.add_argument("--load-repeats", type=int, default=3,
                        help="loads of the four files to take the median of "
                        "(default: 3)")
    parser.add_argument("--whole-repeats", type=int, default=0,
                        help="runs of each whole program to take the median of "
                        "(default: 3, or 1 with --full)")
    parser.add_argument("--wait-quiet", type=float, default=60, metavar="SECONDS",
                        help="before each measurement, wait up to this long for other "
                        "programs to leave the CPUs idle (default: 60; 0: never wait)")
    parser.add_argument("--retries", type=int, default=2,
                        help="measure again, up to this many times, when other programs "
                        "were busy meanwhile (default: 2)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data",
                        help="folder with the four MNIST .gz files (default: data/)")
    # used by the script when it runs itself
    parser.add_argument("--only", choices=PIPELINES, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loads-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--tutorial-run", type=int, metavar="EPOCHS",
                        help=argparse.SUPPRESS)
    parser.add_argument("--output-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.load_repeats < 1 or args.retries < 0:
        parser.error("--epochs and --load-repeats must be at least 1, --retries at "
                     "least 0")
    if args.loads_only and args.only not in ("tutorial", "product"):
        parser.error("--loads-only goes with --only tutorial or --only product")
    args.data_dir = args.data_dir.resolve()
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.only:
        return run_worker(args)
    if args.tutorial_run is not None:
        return tutorial_run(args.data_dir, args.tutorial_run, args.output_dir)

    results = {"product": run_pipeline("product", args)}
    results["bare"] = run_pipeline("bare", args, results["product"]["settings"])
    results["tutorial"] = run_pipeline("tutorial", args)
    for name in ("product", "tutorial"):
        loads = run_pipeline(name, args, loads_only=True)
        results[name].update(load_s=loads["load_s"], load_all=loads["load_all"],
                             load_background=loads["background"])
    results["bare"]["load_s"] = None  # bare reuses the product's loader
    log("peak RSS of python main.py --epochs 1...")
    rss_main, rss_how = main_py_rss(args.data_dir)  # RSS does not suffer from others
    whole = whole_runs(args)
    report(args, results, rss_main, rss_how, whole)


if __name__ == "__main__":
    main()
