"""The only Django-side code that holds a Temporal client: client, worker and activities."""
