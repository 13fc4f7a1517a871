"""Pure rules over Zoho's records (no I/O): what a row means, cleaned, validated, and hashed."""
