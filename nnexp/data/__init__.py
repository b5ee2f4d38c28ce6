"""Data module: turn plain keyword settings into seeded, split, scaled numpy arrays."""

from .checks import validate_arrays
from .dataset import Dataset, preprocess
from .errors import DataError
from .images import IMAGE_EXTENSIONS, load_image, load_image_folder
from .loader import DATASETS, load_dataset
from .splits import split_indices
from .synthetic_images import make_image_folder

__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "DataError",
    "Dataset",
    "load_dataset",
    "load_image",
    "load_image_folder",
    "make_image_folder",
    "preprocess",
    "split_indices",
    "validate_arrays",
]
