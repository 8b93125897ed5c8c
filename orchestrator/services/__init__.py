"""Every write. Each service runs in one transaction and appends its audit event in it."""
