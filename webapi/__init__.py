"""Flask web API and pages: tiles, fields, alerts (CAP 1.2), advice, GS1 Digital Link trace pages."""
