"""Serving: export a trained model as a SavedModel (:mod:`.export`) and use it (:mod:`.exported`)."""

from tfrec.serving.export import EXPORT_FILE, INDEXES, SAVEDMODEL_DIR, export_model
from tfrec.serving.exported import ExportedModel

__all__ = ["EXPORT_FILE", "INDEXES", "SAVEDMODEL_DIR", "ExportedModel", "export_model"]
