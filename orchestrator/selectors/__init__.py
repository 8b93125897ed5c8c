"""Every read that a page, an API or an activity needs. No writes."""
