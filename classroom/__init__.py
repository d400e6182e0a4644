"""Building blocks of the classroom app."""
