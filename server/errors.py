"""One JSON error helper for the API, plain error pages for people."""

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """A client error in the JSON API, naming the field at fault."""

    def __init__(self, status, message, field=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status, message, field=None):
    body = {"error": message}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def wants_json():
    return request.path.startswith("/api/")


def init_app(app):
    @app.errorhandler(ApiError)
    def handle_api_error(exc):
        return error_response(exc.status, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc):
        if wants_json():
            return error_response(exc.code, exc.description or exc.name, "body" if exc.code == 413 else None)
        # A 400's description is written for people (e.g. a bad download filter); others may be internal.
        description = exc.description if exc.code == 400 else None
        return render_template("error.html", code=exc.code, title=_http_title(exc.code), description=description), exc.code

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return error_response(500, "internal error")
        return render_template("error.html", code=500, title=_("Something went wrong")), 500


def _http_title(code):
    titles = {
        400: _("The request was not understood"),
        401: _("Please sign in"),
        403: _("You do not have access to this page"),
        404: _("Page not found"),
        405: _("That action is not allowed here"),
        413: _("The request was too large"),
        429: _("Too many requests, please wait a moment"),
    }
    return titles.get(code, _("Something went wrong"))
