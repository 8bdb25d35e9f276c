"""pgkeel's reference service: identity and customer tags, built only on pgkeel's public API."""
