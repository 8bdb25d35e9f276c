"""Sample data for `make demo`: each sample dealer's cars (40 brands) with images, features
and specifications, leads, and car views -- loaded with COPY as the schema owner."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Any, Final, LiteralString

from pgkeel.db import Database
from pgkeel_apps.dealership.cars import slugify
from pgkeel_apps.dealership.tables import SCHEMA
from pgkeel_apps.sample import copy_rows

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


def _cars(org: uuid.UUID, count: int, rng: random.Random, now: dt.datetime
          ) -> list[tuple[Any, ...]]:
    brands = list(MODELS)
    used: dict[str, int] = {}
    rows = []
    for _ in range(count):
        brand = rng.choice(brands)
        model = rng.choice(MODELS[brand])
        year = rng.randrange(2005, 2026)
        base = slugify(brand, model, year)
        used[base] = used.get(base, 0) + 1   # next_slug's rule, without rescanning
        slug = base if used[base] == 1 else f"{base}-{used[base]}"
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


IMAGE_COLUMNS: Final = ("organization_id", "car_id", "url", "alt_text", "sort_order",
                        "is_primary")
FEATURE_COLUMNS: Final = ("organization_id", "car_id", "feature", "sort_order")
SPEC_COLUMNS: Final = ("organization_id", "car_id", "label", "value", "sort_order")
CAR_COLUMNS: Final = ("organization_id", "id", "slug", "brand", "model", "year", "price_eur",
                      "mileage_km", "fuel", "transmission", "category", "color", "description",
                      "status", "is_featured", "meta_title", "meta_description", "created_at",
                      "updated_at")


FIRST_NAMES: Final = ("Aino", "Eero", "Ilmari", "Helmi", "Oona", "Veeti", "Sofia", "Leo",
                      "Emma", "Onni", "Ella", "Elias")
MESSAGES: Final = ("Is this car still available?",
                   "Could I book a test drive on Saturday morning? I would also like to know "
                   "whether you take trade-ins and what the warranty covers.",
                   "What is your best price?", "Please call me back about financing options.")
LEAD_STATUSES: Final = ("NEW", "CONTACTED", "QUALIFIED", "PROPOSAL", "WON", "LOST", "SPAM")
LEAD_WEIGHTS: Final = (40, 20, 12, 8, 8, 10, 2)
SOURCES: Final = ("WEBSITE", "PHONE", "EMAIL", "WALK_IN", "REFERRAL", "SOCIAL")
LEAD_COLUMNS: Final = ("organization_id", "car_id", "name", "email", "phone", "message",
                       "source", "status", "ip_address", "user_agent", "created_at",
                       "updated_at")


def _leads(org: uuid.UUID, cars: Sequence[uuid.UUID], count: int, rng: random.Random,
           now: dt.datetime) -> list[tuple[Any, ...]]:
    """Leads (scored by the insert trigger as they are copied in)."""
    rows = []
    for i in range(count):
        name = rng.choice(FIRST_NAMES)
        created = now - dt.timedelta(seconds=rng.randrange(0, 90 * 86_400))
        rows.append((org, rng.choice(cars) if cars and rng.random() < 0.7 else None,
                     f"{name} {i}", f"{name.lower()}.{rng.randrange(count // 2 + 1)}@example.com",
                     f"+358 40 {rng.randrange(1_000_000, 9_999_999)}" if rng.random() < 0.6
                     else None, rng.choice(MESSAGES), rng.choice(SOURCES),
                     rng.choices(LEAD_STATUSES, LEAD_WEIGHTS)[0],
                     f"192.0.2.{rng.randrange(1, 255)}", "Mozilla/5.0 (sample data)",
                     created, created))
    return rows


async def load_sample_cars(db: Database, *, dealers: int, cars: int, leads: int = 0,
                            seed: int = 3) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Cars with images, features and specifications, and leads (scored by the insert
    trigger), for `org-1` ... `org-{dealers}`; a dealer that already has cars is skipped.
    Returns (organization, car ids) loaded."""
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    now = dt.datetime.now(dt.UTC)
    loaded = []
    orgs = await db.fetch_all(DEALERS, ([f"org-{n}" for n in range(1, dealers + 1)],))
    for org in orgs:
        if cars == 0 or await db.fetch_val(HAS_CARS, (org["id"],)):
            continue
        rows = _cars(org["id"], cars, rng, now)
        await copy_rows(db, SCHEMA, "cars", CAR_COLUMNS, rows)
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
        for table, columns, children in (("car_images", IMAGE_COLUMNS, images),
                                         ("car_features", FEATURE_COLUMNS, features),
                                         ("car_specifications", SPEC_COLUMNS, specs)):
            await copy_rows(db, SCHEMA, table, columns, children)
        ids = [row[1] for row in rows]
        if leads:
            await copy_rows(db, SCHEMA, "contact_submissions", LEAD_COLUMNS,
                            _leads(org["id"], ids, leads, rng, now))
        loaded.append((org["id"], ids))
    if loaded:
        await db.execute("ANALYZE dealership.cars, dealership.car_images, "
                         "dealership.contact_submissions")
    return loaded
