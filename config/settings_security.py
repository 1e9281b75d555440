"""The Content-Security-Policy (django-csp), part of config.settings."""

from csp.constants import NONE, SELF

# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no inline
# script or style anywhere in templates/ (tests/test_security_headers.py scans them). data: images
# are the favicon and Swagger UI's icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
