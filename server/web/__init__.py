"""The web layer: error envelope, route registry and OpenAPI, sessions and roles, texts, handlers.

Handlers stay thin: they parse the request, call the account/workflow logic and the storage
repositories, and render JSON or a template.
"""
