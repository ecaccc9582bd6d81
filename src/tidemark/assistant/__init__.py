"""The history-aware assistant: questions compiled into typed as-of look-ups, with sources."""
