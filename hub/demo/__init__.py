"""Loaders for the demo registry: small real datasets that ship inside installed packages."""
