"""pgkeel's reference service: the five seed systems, built only on pgkeel's public API."""
