"""The Zoho Books API: HTTP client, OAuth tokens, pacing, retries and response rules."""
