"""scraper: propagate slow-control (DCS) monitoring data into a DBI-style conditions database."""
from scraper.api import Faker, Regime, Scraper, Source, Target
from scraper.sources.sql.skipping import any_of, moved

__all__ = ["Faker", "Regime", "Scraper", "Source", "Target", "any_of", "moved"]
__version__ = "0.1.0"
