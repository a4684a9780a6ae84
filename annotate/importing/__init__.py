"""Importing files into a project: reading, checking, staging and writing pairs and votes."""
