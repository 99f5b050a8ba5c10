"""« Modèle de l'organisation »: the whole model (services, activities, volumes, territories served,
needs, coverage links, objectives, indicators, targets) out to one Excel workbook and back."""

from services.org_model.export import model_workbook
from services.org_model.importer import ModelReport, import_model

__all__ = ["ModelReport", "import_model", "model_workbook"]
