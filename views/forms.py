"""Forms (Flask-WTF: CSRF on every one), with French messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
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
from wtforms.widgets import HiddenInput

from models import Role
from models.enums import LABELS_FR

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


class ServiceForm(FlaskForm):
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=255)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=4000)])
    version = IntegerField(widget=HiddenInput(), validators=[InputRequired(REQUIRED)])


class ConfirmForm(FlaskForm):
    """A button that changes state: only its CSRF token."""
