"""REST API settings (DRF, drf-standardized-errors, drf-spectacular), part of config.settings."""

from config.env import env

REST_FRAMEWORK = {
    # Deliberate defaults (ECOSYSTEM.md): no AllowAny, no Basic auth, JSON only, throttled.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token rules with a plain-SQL lookup (0.8 -> 0.2 ms per request).
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        # One INCR round trip per request instead of DRF's read + rewrite of a request log.
        "config.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER", default="6000/min"),
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
    },
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
# The handler class behind EXCEPTION_HANDLER (the setting itself must stay the package's own
# function, or the schema stops documenting error responses).
DRF_STANDARDIZED_ERRORS = {"EXCEPTION_HANDLER_CLASS": "config.api.ExceptionHandler"}
_ERRORS = "drf_standardized_errors.openapi_serializers"
SPECTACULAR_SETTINGS = {
    "TITLE": "Shelfwise API",
    # The README's "Connect your shop", short: what a shop back-end does in its first hour.
    "DESCRIPTION": """Send shopper events, keep the catalog in sync, fetch real-time
recommendations.

**Connect your shop**

1. **API client**: `python manage.py create_api_client my-shop --role backend` prints a token
   once; send it as `Authorization: Token <token>`.
2. **Catalog**: `POST /api/v1/products/bulk` upserts up to 1,000 products by `sku` (a category
   path such as `Home/Kitchen/Mugs` creates missing categories; `image_url` optional);
   `PUT /api/v1/products/{sku}` for one. Promotions are managed in the admin.
3. **Shoppers and events**: `PUT /api/v1/shoppers/{id}` sets `country` (ISO code, e.g. `DE`),
   `segment`, `points_balance`, `interests`; `POST /api/v1/events` stores up to 1,000 events
   (`view`, `search`, `add_to_cart`, `purchase`, `rating`), idempotent by `event_id`.
4. **Train**: `POST /api/v1/training-runs` (202), then poll `GET /api/v1/training-runs/{id}`
   until `status` is `succeeded`. Beat also retrains nightly at 02:30 UTC, refreshes trending
   hourly and reconciles stale runs every 5 minutes.
5. **Ask**: `GET /api/v1/shoppers/{id}/recommendations?slot=` `for_you`, `promotions`, `points`,
   `trending`, `new_arrivals` or `buy_again` (`&country=DE` for a visitor you never sent);
   `GET /api/v1/products/{sku}/similar` and `/bought-together`. Every item has a `reason`; an
   empty list by design has an `empty_reason`.

Errors: `{"type": ..., "errors": [{"code", "detail", "attr"}]}`.""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # drf-standardized-errors documents its error enums; name them once to avoid collisions.
    "ENUM_NAME_OVERRIDES": {
        f"{name}Enum": f"{_ERRORS}.{name}Enum.choices"
        for name in (
            "ValidationError",
            "ClientError",
            "ServerError",
            *(f"ErrorCode{code}" for code in (401, 403, 404, 405, 406, 415, 429, 500)),
        )
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
    ],
}
