"""The low-stock dashboard: a page, its assets, and the one read it needs beyond the API."""
