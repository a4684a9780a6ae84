"""Worker-only modules: they may import `rewards.ml` at module level.

Web processes (views, API, the app's signal handlers) never import them at module level; a test
over the import graph (tests/test_import_rules.py) holds the line.
"""
