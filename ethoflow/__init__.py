"""ethoflow: animal videos -> instance segmentation -> identity tracks -> metrics, reports."""

__version__ = "0.1.0"
