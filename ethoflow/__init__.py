"""ethoflow: lab-animal videos -> instance segmentation -> identity tracks -> metrics and reports."""

__version__ = "0.1.0"
