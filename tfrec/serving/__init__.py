"""Serving: export a trained model as a SavedModel (:mod:`.export`) and use it (:mod:`.exported`)."""

from tfrec.serving.export import export_model
from tfrec.serving.exported import ExportedModel
from tfrec.serving.info import EXPORT_FILE, INDEXES, SAVEDMODEL_DIR, ExportInfo

__all__ = ["EXPORT_FILE", "INDEXES", "SAVEDMODEL_DIR", "ExportInfo", "ExportedModel", "export_model"]
