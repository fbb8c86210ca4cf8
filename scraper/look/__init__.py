"""Looking at what was scraped: `show` (records valid at a time), `plot` (source vs target), `report`
(what other threshold/maxage/interval settings would have written, and how faithfully)."""
