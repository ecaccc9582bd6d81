"""What every HTTP router shares: the unit of work, authentication, errors and limits."""
