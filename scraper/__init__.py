"""scraper: propagate slow-control (DCS) monitoring data into a DBI-style conditions database."""
from scraper.api import Faker, Regime, Scraper, Source, Target, dcs_table
from scraper.rules import Differs, Moved, Rule

__all__ = ["Differs", "Faker", "Moved", "Regime", "Rule", "Scraper", "Source", "Target", "dcs_table"]
__version__ = "0.1.0"
