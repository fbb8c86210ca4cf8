"""Example regimes: copy one to scrape a new kind of source table."""
