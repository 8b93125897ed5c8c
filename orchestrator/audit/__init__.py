"""The tamper-evident audit trail: append (hash-chained per partition) and verify."""
