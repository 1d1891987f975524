"""佐证材料: evidence files, stored once per SHA-256 in the store's own database, typed by their content."""
