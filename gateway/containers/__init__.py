"""Containers as the gateway owns them: records, names, create, and the API views."""
