"""The merchandiser dashboard at /dashboard: sign-in, the reports as charts and tables, FR/EN."""
