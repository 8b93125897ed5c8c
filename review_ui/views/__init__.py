"""The review UI's views, one module per audience: work (reviewers), supervise, policies, compliance."""
