"""Produce traceability from origin field to sale: GS1 EPCIS 2.0 events, hash chain, Digital Link QR."""
