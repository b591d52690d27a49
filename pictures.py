"""Pictures of what the network gets right and wrong, and of your own digits.

    confusion_matrix.png   for each true class, how the test images were classified
    misclassified.png      test images the network got wrong, with both labels
    predictions.png        your pictures as the network sees them (--predict)
"""

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from MNISTDataset import IMAGE_SIZE, NUM_CLASSES


def confusion_matrix(labels, predicted, num_classes=NUM_CLASSES):
    """Count each (true class, predicted class) pair: row = true, column = predicted.

    Returns an int64 tensor of shape (num_classes, num_classes) whose diagonal holds the
    correct answers and whose total is the number of images.
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    predicted = torch.as_tensor(predicted, dtype=torch.long)
    pairs = labels * num_classes + predicted  # one number per (true, predicted) pair
    counts = torch.bincount(pairs, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


def plot_confusion_matrix(matrix, classes, path):
    """Save the matrix as a PNG: the counts, shaded by their share of the true class."""
    shares = matrix / matrix.sum(dim=1, keepdim=True).clamp(min=1)
    long_names = max(len(name) for name in classes) > 2

    figure, axes = plt.subplots(figsize=(8, 7))
    image = axes.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04,
                    label="share of the true class")
    axes.set_xticks(range(len(classes)), classes, rotation=40 if long_names else 0,
                    ha="right" if long_names else "center")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    for row in range(len(classes)):
        for column in range(len(classes)):
            count = int(matrix[row, column])
            if count:  # empty cells stay blank, so the mistakes stand out
                axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                          color="white" if shares[row, column] > 0.5 else "black")
    total, correct = int(matrix.sum()), int(matrix.trace())
    axes.set_title(f"Confusion matrix: {correct}/{total} test images right "
                   f"({100 * correct / max(total, 1):.2f}%)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_misclassified(images, labels, predicted, classes, path, limit=36):
    """Save a grid of the first `limit` images whose prediction is wrong, as a PNG."""
    wrong = torch.nonzero(predicted != labels).flatten().tolist()
    if not wrong:
        figure, axes = plt.subplots(figsize=(8, 1.5))
        axes.axis("off")
        axes.text(0.5, 0.5, "Misclassified test images: none, every one was right",
                  ha="center", va="center", fontsize=12)
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return

    shown = wrong[:limit]
    columns = 6
    rows = math.ceil(len(shown) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(8, 1.6 * rows + 0.6),
                                squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, index in zip(grid.flat, shown):
        image = images[index].view(IMAGE_SIZE, IMAGE_SIZE).cpu().numpy()
        axes.imshow(image, cmap="gray", vmin=0, vmax=1)
        axes.set_title(f"true: {classes[labels[index]]}\n"
                       f"predicted: {classes[predicted[index]]}", fontsize=8)
    figure.suptitle(f"Misclassified test images: the first {len(shown)} of {len(wrong)}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_test_plots(test_dataset, predicted, classes, output_dir):
    """Save confusion_matrix.png and misclassified.png of one test pass; return the paths.

    `predicted` holds the predicted class of every test image, in the dataset's order.
    """
    output_dir = Path(output_dir)
    labels = test_dataset.labels
    matrix_path = output_dir / "confusion_matrix.png"
    plot_confusion_matrix(confusion_matrix(labels, predicted), classes, matrix_path)
    misclassified_path = output_dir / "misclassified.png"
    plot_misclassified(test_dataset.images, labels, predicted, classes,
                       misclassified_path)
    return [matrix_path, misclassified_path]


def plot_predictions(images, names, probabilities, classes, path, limit=36):
    """Save a PNG of the prepared 28 x 28 inputs, each titled with its prediction."""
    shown = min(len(names), limit)
    columns = min(shown, 6)
    rows = math.ceil(shown / columns)
    figure, grid = plt.subplots(rows, columns, squeeze=False,
                                figsize=(max(1.5 * columns + 0.5, 4), 1.8 * rows + 0.6))
    for axes in grid.flat:
        axes.axis("off")
    for axes, image, name, chances in zip(grid.flat, images, names, probabilities):
        best = int(chances.argmax())
        name = Path(name).name
        name = name if len(name) <= 18 else name[:17] + "…"
        axes.imshow(image.view(IMAGE_SIZE, IMAGE_SIZE).numpy(), cmap="gray", vmin=0,
                    vmax=1)
        axes.set_title(f"{name}\n{classes[best]} ({100 * chances[best]:.1f}%)",
                       fontsize=8)
    more = f" (the first {shown} of {len(names)})" if shown < len(names) else ""
    figure.suptitle(f"Your pictures as the network sees them{more}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure
