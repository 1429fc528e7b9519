"""What leaves the database: disaster-clippy source packs (clippy, with select, pages and media)."""
