"""The app's blueprints: health, api (runs, layers, fields, advice), tiles, alerts, trace, resolver, pages."""
