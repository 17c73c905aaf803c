"""Finance sentiment services: ingestion, scoring, trends, alerts and their delivery, feeds, training data."""
