"""Label quality: agreement, position bias, annotator reliability and the quality report."""
