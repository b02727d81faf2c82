"""Register the insight features (digest, wall, alerts) with the app."""


def init_app(app):
    """Register the insight models, blueprints and the digest and alerts commands."""
    from . import alert_settings, alerts, digest, insight_models, wall  # noqa: F401  (models known to migrations)

    app.register_blueprint(digest.bp)
    app.register_blueprint(wall.bp)
    app.register_blueprint(alert_settings.bp)
    digest.register_cli(app.cli)
    alerts.register_cli(app)
