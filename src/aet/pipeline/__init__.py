"""End-to-end pipeline: aet run."""
