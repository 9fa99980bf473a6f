"""Plans and membership: changing plan, the membership as of now, consuming receives."""
