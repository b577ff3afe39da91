"""What the api and the console share: the app and its lifespan (app.web.app, the
composition root, the one module that mounts both), errors -> statuses, authentication,
request ids and the dependencies routes and pages read the app's resources through."""
