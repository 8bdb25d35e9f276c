"""The commerce services of the e-commerce report: product catalog, Redis cart, orders,
payments and inventory. Each service is a subpackage with its own schema, migration set and
`APP` (see `pgkeel_apps.app.ReferenceApp`)."""
