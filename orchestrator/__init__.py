"""The Handrail engine: records, services, selectors, gates, audit, Temporal glue and the API."""
