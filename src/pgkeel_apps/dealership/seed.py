"""Sample data for `make demo`: each sample dealer's cars (40 brands) with images, features
and specifications, leads, and car views -- loaded with COPY as the schema owner."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Final, LiteralString

from psycopg import sql

from pgkeel.db import Database
from pgkeel_apps.dealership.cars import next_slug, slugify

MODELS: Final = {
    "Toyota": ("Corolla", "Camry", "RAV4", "Yaris"), "Volkswagen": ("Golf", "Passat", "Tiguan"),
    "Ford": ("Focus", "Fiesta", "Mustang"), "BMW": ("320i", "X5", "M3"),
    "Mercedes-Benz": ("C-Class", "E-Class", "GLC"), "Audi": ("A3", "A4", "Q5"),
    "Honda": ("Civic", "Accord", "CR-V"), "Nissan": ("Qashqai", "Leaf", "Micra"),
    "Hyundai": ("i30", "Tucson", "Kona"), "Kia": ("Ceed", "Sportage", "Niro"),
    "Mazda": ("Mazda3", "CX-5", "MX-5"), "Skoda": ("Octavia", "Fabia", "Kodiaq"),
    "Peugeot": ("208", "308", "3008"), "Renault": ("Clio", "Megane", "Captur"),
    "Volvo": ("XC60", "V60", "XC90"), "Opel": ("Astra", "Corsa", "Insignia"),
    "Seat": ("Leon", "Ibiza", "Ateca"), "Fiat": ("500", "Panda", "Tipo"),
    "Citroen": ("C3", "C4", "Berlingo"), "Subaru": ("Impreza", "Forester", "Outback"),
    "Mitsubishi": ("Outlander", "ASX", "Lancer"), "Suzuki": ("Swift", "Vitara", "Jimny"),
    "Tesla": ("Model 3", "Model Y", "Model S"), "Lexus": ("IS", "RX", "NX"),
    "Porsche": ("911", "Cayenne", "Macan"), "Jaguar": ("XE", "F-Pace", "E-Pace"),
    "Land Rover": ("Defender", "Discovery", "Evoque"), "Mini": ("Cooper", "Countryman"),
    "Alfa Romeo": ("Giulia", "Stelvio"), "Dacia": ("Duster", "Sandero", "Logan"),
    "Jeep": ("Wrangler", "Compass", "Renegade"), "Chevrolet": ("Camaro", "Malibu", "Spark"),
    "Dodge": ("Challenger", "Charger"), "Cupra": ("Formentor", "Born"),
    "Polestar": ("Polestar 2",), "Smart": ("ForTwo", "ForFour"), "DS": ("DS 4", "DS 7"),
    "Genesis": ("G70", "GV70"), "MG": ("ZS", "MG4"), "Lancia": ("Ypsilon", "Delta"),
}
FUELS: Final = ("PETROL", "DIESEL", "HYBRID", "ELECTRIC", "LPG")
CATEGORIES: Final = ("SEDAN", "HATCHBACK", "SUV", "WAGON", "COUPE", "CONVERTIBLE", "VAN",
                     "PICKUP")
STATUSES: Final = ("AVAILABLE", "RESERVED", "SOLD", "COMING_SOON", "DRAFT")
STATUS_WEIGHTS: Final = (80, 8, 8, 3, 1)
COLORS: Final = ("black", "white", "silver", "grey", "blue", "red", "green", "beige")
FEATURES: Final = ("Air conditioning", "Cruise control", "Heated seats", "Navigation",
                   "Parking sensors", "Reversing camera", "Bluetooth", "LED headlights",
                   "Keyless entry", "Apple CarPlay", "Tow bar", "Sunroof")

DEALERS: LiteralString = (
    "SELECT id, slug FROM identity.organizations WHERE slug = ANY(%s) ORDER BY slug")
HAS_CARS: LiteralString = "SELECT EXISTS (SELECT FROM dealership.cars WHERE organization_id = %s)"


async def copy_rows(db: Database, table: str, columns: Sequence[str],
                    rows: Iterable[Sequence[Any]]) -> None:
    """COPY rows into dealership.`table`, in one transaction (as the owner: COPY FROM is
    refused under row-level security)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier("dealership", table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    async with db.transaction() as tx:
        await tx.begin()
        async with tx.connection.cursor().copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)


def _cars(org: uuid.UUID, count: int, rng: random.Random, now: dt.datetime
          ) -> list[tuple[Any, ...]]:
    brands = list(MODELS)
    taken: set[str] = set()
    rows = []
    for _ in range(count):
        brand = rng.choice(brands)
        model = rng.choice(MODELS[brand])
        year = rng.randrange(2005, 2026)
        slug = next_slug(slugify(brand, model, year), taken)
        taken.add(slug)
        category = rng.choice(CATEGORIES)
        fuel = rng.choice(FUELS)
        price = round(rng.uniform(3_000, 90_000), -2)
        created = now - dt.timedelta(seconds=rng.randrange(0, 365 * 86_400))
        name = f"{brand} {model} {year}"
        rows.append((org, uuid.UUID(int=rng.getrandbits(128), version=4), slug, brand, model,
                     year, price, rng.randrange(0, 250_000), fuel,
                     rng.choice(("MANUAL", "AUTOMATIC")), category, rng.choice(COLORS),
                     f"{name}, {fuel.lower()}, well kept, full service history.",
                     rng.choices(STATUSES, STATUS_WEIGHTS)[0], rng.random() < 0.02,
                     f"{name} for sale"[:70], f"Buy a used {name} ({fuel.lower()})."[:160],
                     created, created))
    return rows


CAR_COLUMNS: Final = ("organization_id", "id", "slug", "brand", "model", "year", "price_eur",
                      "mileage_km", "fuel", "transmission", "category", "color", "description",
                      "status", "is_featured", "meta_title", "meta_description", "created_at",
                      "updated_at")


async def load_sample_cars(db: Database, *, dealers: int, cars: int,
                            seed: int = 3) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Cars with images, features and specifications for `org-1` ... `org-{dealers}`; a
    dealer that already has cars is skipped. Returns (organization, car ids) loaded."""
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    now = dt.datetime.now(dt.UTC)
    loaded = []
    orgs = await db.fetch_all(DEALERS, ([f"org-{n}" for n in range(1, dealers + 1)],))
    for org in orgs:
        if cars == 0 or await db.fetch_val(HAS_CARS, (org["id"],)):
            continue
        rows = _cars(org["id"], cars, rng, now)
        await copy_rows(db, "cars", CAR_COLUMNS, rows)
        images, features, specs = [], [], []
        for row in rows:
            car_id, slug = row[1], row[2]
            for i in range(3):
                images.append((org["id"], car_id, f"https://cdn.example.com/cars/{slug}/{i}.jpg",
                               f"{row[3]} {row[4]}, photo {i + 1}", i, i == 0))
            for i, feature in enumerate(rng.sample(FEATURES, 4)):
                features.append((org["id"], car_id, feature, i))
            for i, (label, value) in enumerate((
                    ("Engine", f"{rng.choice((1.0, 1.4, 1.6, 2.0, 3.0))} l"),
                    ("Power", f"{rng.randrange(70, 400)} hp"), ("Doors", str(rng.choice((3, 5)))),
                    ("Seats", str(rng.choice((2, 4, 5, 7)))))):
                specs.append((org["id"], car_id, label, value, i))
        await copy_rows(db, "car_images", ("organization_id", "car_id", "url", "alt_text",
                                           "sort_order", "is_primary"), images)
        await copy_rows(db, "car_features", ("organization_id", "car_id", "feature",
                                             "sort_order"), features)
        await copy_rows(db, "car_specifications", ("organization_id", "car_id", "label",
                                                   "value", "sort_order"), specs)
        loaded.append((org["id"], [row[1] for row in rows]))
    if loaded:
        await db.execute("ANALYZE dealership.cars, dealership.car_images")
    return loaded
