"""佐证材料: evidence files, stored once per SHA-256 in the store's own database, their types sniffed from the content."""
