"""Forms of the value chain pages (services, activities, needs, coverage links), with French messages.

Numbers are read the French way and bounded by :mod:`services.numbers` (``1e300`` is refused on its
field, with the field's name); choices are filled by the views from the organisation's rows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import TextInput

from models import ActivityKind, EvidenceKind, PartnerType, ServiceKind
from models.enums import LABELS_FR
from services.numbers import NumberError, check_amount, check_value, parse_french_decimal, parse_french_number
from views.forms import REQUIRED, VersionField

NONE = SelectChoice("", "—")
#: Rows offered for new entries under the existing ones (years, territories served).
BLANK_ROWS = 3
#: At most this many rows in one post (a form is typed by a person).
MAX_ROWS = 400


def enum_choices(enum: Any, *, blank: bool = False) -> list[SelectChoice]:
    return [*([NONE] if blank else []), *(SelectChoice(m.value, LABELS_FR.get(m, m.value)) for m in enum)]


class NumberField(Field):
    """A number typed the French way (« 1 250,5 »), checked against what ``unit`` allows.

    ``data`` is a float, a :class:`~decimal.Decimal` for an amount (``money=True``), or None when
    left blank. A refusal names the field: « Capacité : « 1e300 » est hors limites : … ».
    """

    widget = TextInput()
    data: Any

    def __init__(
        self,
        label: str,
        validators: Any = None,
        *,
        unit: str | None = None,
        money: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.unit = "EUR" if money else unit
        self.money = money

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not raw:
            return
        try:
            if self.money:
                self.data = check_amount(parse_french_decimal(raw), raw=raw)
            else:
                self.data = check_value(parse_french_number(raw), self.unit, raw=raw)
        except NumberError as exc:
            raise ValueError(f"{self.label.text} : {exc}.") from None

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        if isinstance(self.data, Decimal):
            return format(self.data.normalize(), "f").replace(".", ",")
        return f"{float(self.data):.10g}".replace(".", ",")


class PercentField(NumberField):
    """A share typed in percent (« 60 », « 12,5 ») whose ``data`` is the share (0.6, 0.125)."""

    def __init__(self, label: str, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, validators, unit="%", **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = float(self.data) / 100

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        return f"{float(self.data) * 100:.10g}".replace(".", ",")


# -- services -----------------------------------------------------------------------------------------
class ServiceDefinitionForm(FlaskForm):
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=255)])
    code = StringField("Code (vide : tiré du nom)", validators=[Optional(), Length(max=64)])
    kind = SelectField("Nature", choices=enum_choices(ServiceKind))
    partner_type = SelectField("Type de partenaire", choices=enum_choices(PartnerType, blank=True))
    m57_function = SelectField("Fonction M57 principale", validate_choice=False)
    is_support = BooleanField("Fonction support (ses coûts sont répartis sur les autres services)")
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    version = VersionField(validators=[InputRequired(REQUIRED)])


# -- activities -------------------------------------------------------------------------------------
class ActivityForm(FlaskForm):
    service_id = SelectField("Service qui mène l'activité", validate_choice=False)
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=255)])
    code = StringField("Code (vide : tiré du nom)", validators=[Optional(), Length(max=64)])
    output_unit = StringField(
        "Unité de production (repas livré, dossier instruit, heure d'aide…)",
        validators=[DataRequired(REQUIRED), Length(max=64)],
    )
    kind = SelectField("Mission", choices=enum_choices(ActivityKind))
    min_volume = NumberField("Volume minimum légal ou conventionnel (par an)")
    volume = NumberField("Volume annuel retenu pour la couverture et les scénarios")
    capacity = NumberField("Capacité (par an, vide : sans limite connue)")
    beneficiaries = NumberField("Bénéficiaires distincts (par an)")
    staff_etp = NumberField("Effectif (ETP)")
    unit_cost = NumberField("Coût unitaire (€, vide : inconnu)", money=True)
    fixed_cost = NumberField("Coût fixe annuel (€)", money=True)
    m57_function = SelectField("Fonction M57", validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    version = VersionField(validators=[Optional()])

    def validate_beneficiaries(self, field: Field) -> None:
        if field.data is not None and float(field.data) != int(field.data):
            raise ValueError("Bénéficiaires : un nombre entier de personnes.")


class VolumeRowForm(Form):
    year = IntegerField("Année", validators=[Optional(), NumberRange(1990, 2200, "Année : de 1990 à 2200.")])
    planned = NumberField("Prévu")
    actual = NumberField("Réalisé")
    version = VersionField(validators=[Optional()])
    delete = BooleanField("Retirer")


class VolumesForm(FlaskForm):
    rows = FieldList(FormField(VolumeRowForm), min_entries=0, max_entries=MAX_ROWS)


class DeliveryRowForm(Form):
    territory_id = SelectField("Territoire", validate_choice=False)
    share = PercentField("Part de la production (%)")


class DeliveriesForm(FlaskForm):
    scope = RadioField(
        "Territoires desservis",
        choices=[
            SelectChoice("all", "Tout le territoire de l'organisation"),
            SelectChoice("list", "Certains territoires, avec la part de la production livrée dans chacun"),
        ],
        default="all",
    )
    rows = FieldList(FormField(DeliveryRowForm), min_entries=0, max_entries=MAX_ROWS)
    version = VersionField(validators=[InputRequired(REQUIRED)])


class CoverageForm(FlaskForm):
    """A coverage link, from the activity's page (``other_id``: the need) or the need's (the activity)."""

    other_id = SelectField("Besoin couvert", validate_choice=False)
    coefficient = NumberField(
        "Coefficient (unités du besoin couvertes par unité produite)", validators=[InputRequired(REQUIRED)]
    )
    share = PercentField("Part explicite de la production (%, vide : au prorata des effectifs)")
    note = StringField("Note", validators=[Optional(), Length(max=500)])
    version = VersionField(validators=[InputRequired(REQUIRED)])


class VersionOnlyForm(FlaskForm):
    """A button on a versioned row (archive, remove a link): its CSRF token and the version read."""

    version = VersionField(validators=[InputRequired(REQUIRED)])


# -- needs ------------------------------------------------------------------------------------------
class NeedForm(FlaskForm):
    label = StringField("Intitulé", validators=[DataRequired(REQUIRED), Length(max=255)])
    code = StringField("Code (vide : tiré de l'intitulé)", validators=[Optional(), Length(max=64)])
    population_group_id = SelectField("Public", validate_choice=False)
    territory_id = SelectField("Territoire", validate_choice=False)
    unit = StringField(
        "Unité (personnes, ménages, allocataires…)", validators=[DataRequired(REQUIRED), Length(max=32)]
    )
    sizing = RadioField(
        "Dimensionnement",
        choices=[
            SelectChoice("formula", "Calculé à partir des statistiques détenues (formule)"),
            SelectChoice("manual", "Effectif saisi, avec sa source et sa date"),
        ],
        default="manual",
    )
    sizing_formula = StringField(
        "Formule (variables des statistiques, ex. caf_rsa_socle * 0.5)",
        validators=[Optional(), Length(max=500)],
    )
    size = NumberField("Effectif saisi")
    size_as_of = DateField("Date de l'effectif", validators=[Optional()])
    source = StringField("Source de l'effectif", validators=[Optional(), Length(max=128)])
    evidence_note = TextAreaField("Précisions sur la preuve", validators=[Optional(), Length(max=4000)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    public_description = TextAreaField(
        "Le besoin en mots simples, pour les habitants", validators=[Optional(), Length(max=4000)]
    )
    version = VersionField(validators=[Optional()])


class ObservationForm(FlaskForm):
    kind = SelectField("Nature", choices=enum_choices(EvidenceKind))
    observed_on = DateField("Date", validators=[InputRequired("Indiquez la date du recueil.")])
    source = StringField(
        "Qui a été entendu ou qui a écrit (jamais le nom d'un habitant)",
        validators=[DataRequired(REQUIRED), Length(max=200)],
    )
    summary = TextAreaField(
        "Ce qui a été dit ou observé", validators=[DataRequired(REQUIRED), Length(max=4000)]
    )
    version = VersionField(validators=[Optional()])
    delete = HiddenField()
