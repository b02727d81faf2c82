"""Administrators: people, roles and scopes."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
