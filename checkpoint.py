"""Saving the trained network to a file, and loading it back safely.

    python main.py --save-model              # trains, then writes results/model.pt
    python main.py --evaluate results/model.pt
    python main.py --predict my7.png --checkpoint results/model.pt

A checkpoint is a dict of plain values and tensors: the network's state_dict, the run's
settings and the names of the ten classes. That is all torch.load(..., weights_only=True)
needs to rebuild, so loading never runs code that a file might carry.
"""

import os
import pickle
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch

from MNISTDataset import DIGIT_CLASSES, NUM_CLASSES, describe_start
from NeuralNetwork import NeuralNet


def write_atomically(path, write):
    """Call write(file) on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        # mkstemp makes the file readable by its owner only; give it the usual rights
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


CHECKPOINT_FORMAT = "NeuralNet 784-100-50-10 checkpoint, version 1"
CHECKPOINT_EXPECTED = "NeuralNet's weights as main.py --save-model saves them"
CHECKPOINT_ADVICE = "pass the model.pt --save-model wrote (results/model.pt by default)"


class CheckpointError(ValueError):
    """A file that is not a checkpoint of NeuralNet, or not one that is safe to load."""


def save_model(neural_net, settings, output_dir, classes=DIGIT_CLASSES):
    path = Path(output_dir) / "model.pt"
    # plain values and tensors only, so that load_checkpoint can read it with
    # weights_only=True; "format" tells our checkpoints apart from other .pt files
    checkpoint = {"format": CHECKPOINT_FORMAT, "state_dict": neural_net.state_dict(),
                  "settings": settings, "classes": list(classes)}
    write_atomically(path, lambda file: torch.save(checkpoint, file))
    return path


def load_checkpoint(path, device="cpu"):
    """Load a model saved by save_model (or a bare NeuralNet state_dict), running no code.

    torch.load with weights_only=True rebuilds only tensors and plain values (dicts,
    lists, numbers, strings): a file that asks for anything else, such as a function to
    call, is refused before any of it runs. Returns (neural_net, classes, settings);
    classes and settings are None for a bare state_dict. Raises CheckpointError.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"the checkpoint '{path}' does not exist: train a model and save it first "
            "(python main.py --save-model writes results/model.pt), or pass the right "
            "path")
    if path.is_dir():
        raise CheckpointError(
            f"'{path}' is a folder, but {CHECKPOINT_EXPECTED} was expected")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickles it then refuses
            saved = torch.load(path, map_location=device, weights_only=True)
    except PermissionError:
        raise CheckpointError(
            f"'{path}' cannot be read (permission denied): check the file's permissions"
        ) from None
    except Exception as error:
        # a file that is not a checkpoint can make torch.load raise almost anything:
        # UnpicklingError, KeyError, EOFError, RuntimeError, ...
        raise _not_a_checkpoint(path, _describe_unloadable(path, error)) from None

    if isinstance(saved, dict) and "state_dict" in saved:
        if saved.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
            raise _not_a_checkpoint(path, f"a checkpoint in another format "
                                    f"({saved['format']!r})")
        state_dict, classes, settings = (
            saved["state_dict"], saved.get("classes"), saved.get("settings"))
    elif isinstance(saved, dict) and saved and all(
            isinstance(value, torch.Tensor) for value in saved.values()):
        state_dict, classes, settings = saved, None, None  # a bare state_dict
    elif isinstance(saved, dict):
        keys = ", ".join(repr(key) for key in list(saved)[:5])
        raise _not_a_checkpoint(path, f"a dict with no 'state_dict' (its keys: {keys})"
                                if saved else "an empty dict")
    else:
        raise _not_a_checkpoint(path, f"a {type(saved).__name__} instead of a dict")

    found = _state_dict_mismatch(state_dict)
    if found:
        raise _not_a_checkpoint(path, found)
    if classes is not None and not (
            isinstance(classes, (list, tuple)) and len(classes) == NUM_CLASSES
            and all(isinstance(name, str) for name in classes)):
        raise _not_a_checkpoint(path, f"class names that are not {NUM_CLASSES} strings "
                                f"({str(classes)[:60]})")

    neural_net = NeuralNet().to(device)
    neural_net.load_state_dict(state_dict)
    return neural_net, None if classes is None else list(classes), settings


def _not_a_checkpoint(path, found):
    return CheckpointError(f"'{path}' is not a checkpoint of this network: expected "
                           f"{CHECKPOINT_EXPECTED}, found {found}; {CHECKPOINT_ADVICE}")


def _describe_unloadable(path, error):
    """Say what a file holds that torch.load could not (or would not) load."""
    unsafe = re.search(r"GLOBAL ([\w.]+)", str(error))
    if unsafe:
        return (f"a pickle that asks for the Python object {unsafe.group(1)}, which "
                "could run code, so it was refused and nothing in it ran")
    with open(path, "rb") as file:
        start = file.read(2)
    if start == b"PK":  # PyTorch saves a zip archive holding a data.pkl
        if not zipfile.is_zipfile(path):
            return "a damaged or cut-short zip archive (PyTorch saves in zip form)"
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if not any(name.endswith("data.pkl") for name in names):
            held = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            return ("a zip archive that is not a PyTorch file "
                    f"(it holds {held or 'nothing'})")
        return f"a PyTorch file it cannot read ({str(error).splitlines()[0][:100]})"
    if isinstance(error, pickle.UnpicklingError) and start[:1] == b"\x80":
        return ("a pickle with more than tensors and plain values in it, so it was "
                "refused and nothing in it ran")
    return describe_start(path)


def _state_dict_mismatch(state_dict):
    """'' when `state_dict` fits NeuralNet; otherwise what was found instead, in words."""
    if not isinstance(state_dict, dict) or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        return "a 'state_dict' that is not a dict of tensors"
    expected = {name: list(value.shape)
                for name, value in NeuralNet().state_dict().items()}
    found = {name: list(value.shape) for name, value in state_dict.items()}
    missing = [name for name in expected if name not in found]
    unexpected = [str(name) for name in found if name not in expected]
    problems = []
    if missing:
        problems.append("no " + _first_few(missing))
    if unexpected:
        problems.append("unexpected " + _first_few(unexpected))
    for name, shape in expected.items():
        if name in found and found[name] != shape:
            problems.append(f"{name} of shape {found[name]} instead of {shape}")
    if not problems:
        return ""
    return "the weights of another network (" + "; ".join(problems[:3]) + ")"


def _first_few(names):
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
