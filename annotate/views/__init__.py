"""HTML pages, one module per room (the API mirrors them in annotate/api/)."""
