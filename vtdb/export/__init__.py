"""What leaves the database: disaster-clippy source packs (clippy) and Markdown reports (report)."""
