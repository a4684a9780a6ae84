"""Judging: which pair an annotator gets next, recording a judgement, overlap and gold checks."""
