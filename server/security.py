"""Response headers that harden every page: CSP without inline code, framing, sniffing, HSTS."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'"
)


HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """WSGI middleware: every response gets the headers above that its view did not set itself.

    Added to the status and header list as they pass to the server, once each: through Flask's
    after_request and Werkzeug's Headers, which check each value again, they cost an answer's
    request more than its validation did.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _value in headers}
            # The scheme as ProxyFix, inside this middleware, has set it from the proxy's header.
            ours = SECURE_HEADERS if environ.get("wsgi.url_scheme") == "https" else PLAIN_HEADERS
            return start_response(status, headers + [header for key, header in ours if key not in present], exc_info)

        return self.wsgi_app(environ, start_with_headers)


# Each header with its name in lower case, made once: the middleware compares names on every response.
PLAIN_HEADERS = tuple((name.lower(), (name, value)) for name, value in HEADERS)
SECURE_HEADERS = PLAIN_HEADERS + ((HSTS[0].lower(), HSTS),)


def init_app(app):
    app.wsgi_app = SecurityHeaders(app.wsgi_app)
