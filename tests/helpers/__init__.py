"""Writers of detector files for the reader tests (numpy only, written from the formats'
descriptions, independent of the readers they test)."""
