"""Register the insight features (digest, wall, alerts) with the app."""


def init_app(app):
    """Register insight blueprints and commands; filled in as the features land."""
