"""Model adapters: each family's block cut at the boundaries of METHOD.md (no IG here)."""
