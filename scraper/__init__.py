"""scraper: propagate slow-control (DCS) monitoring data into a DBI-style conditions database."""
from .regime import Faker, Regime, Scraper, Source, Target

__all__ = ["Faker", "Regime", "Scraper", "Source", "Target"]
__version__ = "0.1.0"
