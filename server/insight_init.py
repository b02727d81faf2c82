"""Register the insight features (digest, wall, alerts) with the app."""


def init_app(app):
    """Register the insight models, blueprints and the digest command."""
    from . import digest, insight_models, wall  # noqa: F401  (the models must be known to migrations)

    app.register_blueprint(digest.bp)
    app.register_blueprint(wall.bp)
    digest.register_cli(app.cli)
