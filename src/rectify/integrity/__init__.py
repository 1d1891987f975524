"""A record you can prove: the log's Merkle tree, signed tree heads, verification and portable copies."""
