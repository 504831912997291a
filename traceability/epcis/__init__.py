"""GS1 EPCIS 2.0 JSON-LD: event builders, validation models and the event hash."""
