"""Review of a project's data: the pairs browser, invalidating and restoring votes, gold labels."""
