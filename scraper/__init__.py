"""scraper: propagate slow-control (DCS) monitoring data into a DBI-style conditions database."""
from .regime import Faker, Regime, Scraper, Source, Target
from .skipping import any_of, moved

__all__ = ["Faker", "Regime", "Scraper", "Source", "Target", "any_of", "moved"]
__version__ = "0.1.0"
