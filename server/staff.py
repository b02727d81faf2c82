"""Staff: logging spoken (and phoned, mailed, written) feedback in a few seconds."""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")
