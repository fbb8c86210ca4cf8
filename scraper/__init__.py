"""scraper: propagate slow-control (DCS) monitoring data into a DBI-style conditions database."""
from .regime import Faker, Regime, Scraper, Source, Target
from .skipping import moved

__all__ = ["Faker", "Regime", "Scraper", "Source", "Target", "moved"]
__version__ = "0.1.0"
