"""The HTTP API under /api/v1: routes only, one router per resource (app.api.routes).

What they stand on (auth, errors, dependencies, pagination) is in app.web; app.web.app
builds the application (`create_app`) and mounts them."""
