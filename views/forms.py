"""Forms (Flask-WTF: CSRF on every one), with French messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput, TextInput

from models import Role
from models.enums import LABELS_FR
from services.numbers import NumberError, parse_french_number

REQUIRED = "Ce champ est obligatoire."


class LoginForm(FlaskForm):
    email = EmailField("Adresse électronique", validators=[DataRequired(REQUIRED), Length(max=254)])
    password = PasswordField("Mot de passe", validators=[DataRequired(REQUIRED), Length(max=256)])
    remember = BooleanField("Rester connecté·e sur cet appareil (14 jours au plus)")
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current = PasswordField("Mot de passe actuel", validators=[DataRequired(REQUIRED)])
    new = PasswordField(
        "Nouveau mot de passe (12 caractères au moins)",
        validators=[DataRequired(REQUIRED), Length(max=128)],
    )
    confirm = PasswordField(
        "Confirmation du nouveau mot de passe",
        validators=[DataRequired(REQUIRED), EqualTo("new", "Les deux mots de passe diffèrent.")],
    )


ROLE_CHOICES = [SelectChoice(role.value, LABELS_FR[role]) for role in Role]


class UserForm(FlaskForm):
    email = EmailField(
        "Adresse électronique",
        validators=[DataRequired(REQUIRED), Email("Adresse électronique invalide."), Length(max=254)],
    )
    full_name = StringField("Nom complet", validators=[DataRequired(REQUIRED), Length(max=200)])
    role = SelectField("Rôle", choices=ROLE_CHOICES, validators=[DataRequired(REQUIRED)])
    services = SelectMultipleField("Services (responsable de service)", coerce=int, validators=[Optional()])
    version = HiddenField()


class VersionField(IntegerField):
    """The version of a shared row the form was read at (hidden). After a conflict the view sets
    ``data`` to the current version: that, not the stale one sent, is what the form shows again."""

    widget = HiddenInput()

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)


class ServiceForm(FlaskForm):
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=255)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    version = VersionField(validators=[InputRequired(REQUIRED)])


class ConfirmForm(FlaskForm):
    """A button that changes state: only its CSRF token."""


def choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


PERSPECTIVES = choices([
    ("users", "Usagers et citoyens"), ("finance", "Finances"),
    ("processes", "Processus internes"), ("learning", "Apprentissage et organisation"),
])  # fmt: skip


class ObjectiveForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(REQUIRED), Length(max=64)])
    title = StringField("Intitulé", validators=[DataRequired(REQUIRED), Length(max=300)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    perspective = SelectField("Perspective", choices=PERSPECTIVES)
    parent_id = SelectField("Objectif parent (vide : objectif stratégique)", validate_choice=False)
    service_id = SelectField("Service (obligatoire pour un objectif opérationnel)", validate_choice=False)
    owner_id = SelectField("Responsable", validate_choice=False)
    deadline = DateField("Échéance", validators=[Optional()])
    weight = DecimalField(
        "Poids dans le tableau de bord", default=Decimal("1"), places=2, validators=[InputRequired(REQUIRED)]
    )
    need_ids = SelectMultipleField("Besoins visés", coerce=int, validate_choice=False)
    activity_ids = SelectMultipleField("Activités mobilisées", coerce=int, validate_choice=False)
    version = HiddenField()


class IndicatorForm(FlaskForm):
    code = StringField("Code (minuscules, chiffres, _)", validators=[DataRequired(REQUIRED), Length(max=64)])
    label = StringField("Intitulé", validators=[DataRequired(REQUIRED), Length(max=300)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    type = SelectField("Type", choices=choices([
        ("resource", "Ressource"), ("output", "Activité / réalisation"), ("outcome", "Effet / impact"),
        ("quality", "Qualité / satisfaction"), ("efficiency", "Efficience"),
    ]))  # fmt: skip
    unit = StringField(
        "Unité (%, EUR, personnes, EUR/repas…)", validators=[DataRequired(REQUIRED), Length(max=32)]
    )
    direction = SelectField("Sens", choices=choices([
        ("higher", "Plus haut est mieux"), ("lower", "Plus bas est mieux"), ("band", "Dans une fourchette"),
    ]))  # fmt: skip
    frequency = SelectField("Fréquence", choices=choices([
        ("monthly", "Mensuelle"), ("quarterly", "Trimestrielle"), ("yearly", "Annuelle"),
    ]))  # fmt: skip
    perspective = SelectField("Perspective", choices=PERSPECTIVES)
    formula = StringField(
        "Formule (indicateur calculé, ex. cout_portage / repas_livres)",
        validators=[Optional(), Length(max=500)],
    )
    decimals = IntegerField("Décimales affichées", default=0, validators=[InputRequired(REQUIRED)])
    weight = DecimalField("Poids", default=Decimal("1"), places=2, validators=[InputRequired(REQUIRED)])
    source = StringField("Source", validators=[Optional(), Length(max=128)])
    vintage = IntegerField("Millésime", validators=[Optional()])
    baseline_value = StringField("Valeur de référence", validators=[Optional()])
    baseline_period_key = StringField(
        "Période de référence (AAAA-MM, AAAA-T1, AAAA)", validators=[Optional(), Length(max=16)]
    )
    service_id = SelectField("Service qui renseigne", validate_choice=False)
    owner_id = SelectField("Responsable", validate_choice=False)
    objective_id = SelectField("Objectif mesuré", validate_choice=False)
    activity_id = SelectField("Activité mesurée", validate_choice=False)
    need_id = SelectField("Besoin mesuré", validate_choice=False)
    version = HiddenField()


class TrajectoryForm(FlaskForm):
    start = StringField("Première période", validators=[DataRequired(REQUIRED)])
    end = StringField("Dernière période", validators=[DataRequired(REQUIRED)])
    start_value = StringField("Cible de départ", validators=[Optional()])
    end_value = StringField("Cible d'arrivée", validators=[Optional()])
    shape = SelectField("Forme", choices=choices([
        ("linear", "Linéaire"), ("geometric", "À taux constant"), ("constant", "Constante"),
    ]))  # fmt: skip
    band_low = StringField("Borne basse (fourchette)", validators=[Optional()])
    band_high = StringField("Borne haute (fourchette)", validators=[Optional()])
    mode = SelectField("Seuils exprimés", choices=choices([
        ("relative", "en part de la cible (0,05 = 5 %)"), ("absolute", "dans l'unité de l'indicateur"),
    ]))  # fmt: skip
    amber = StringField("Écart toléré avant l'orange", default="0,05", validators=[DataRequired(REQUIRED)])
    red = StringField("Écart toléré avant le rouge", default="0,10", validators=[DataRequired(REQUIRED)])
    #: The indicator's version the targets were read at: a stale save is refused (409).
    version = VersionField(validators=[InputRequired(REQUIRED)])


class FrenchNumberField(Field):
    """A number typed the French way (« -5 », « 12,5 », « 1 250,50 »); ``data`` is a float or None."""

    widget = TextInput()
    data: Any

    def process_formdata(self, valuelist: list[Any]) -> None:
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            self.data = None
            return
        try:
            self.data = parse_french_number(raw)
        except NumberError as exc:
            self.data = None
            raise ValueError(f"« {raw} » n'est pas un nombre : {exc}") from None

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        if self.data is None:
            return ""
        return f"{float(self.data):g}".replace(".", ",")
