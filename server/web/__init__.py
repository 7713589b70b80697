"""The web layer: error envelope, route registry and OpenAPI, sessions and roles, i18n, handlers.

Handlers stay thin: they parse the request, call the account/workflow logic and the storage
repositories, and render JSON or a template.
"""
