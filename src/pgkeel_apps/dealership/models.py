"""Request bodies of the dealership API (unknown fields and control characters: 422)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from pgkeel.web import ApiModel, Name, Text

Fuel = Literal["PETROL", "DIESEL", "HYBRID", "ELECTRIC", "LPG"]
Transmission = Literal["MANUAL", "AUTOMATIC"]
Category = Literal["SEDAN", "HATCHBACK", "SUV", "WAGON", "COUPE", "CONVERTIBLE", "VAN", "PICKUP"]
CarStatus = Literal["DRAFT", "AVAILABLE", "RESERVED", "SOLD", "COMING_SOON"]
URL = r"^https?://[^\s]+$"
Feature = Annotated[Name, Field(min_length=1, max_length=200)]


class ImageIn(ApiModel):
    url: str = Field(pattern=URL, max_length=2000,
                     examples=["https://cdn.example.com/cars/1.jpg"])
    altText: Name | None = Field(None, max_length=200)
    isPrimary: bool = False


class SpecificationIn(ApiModel):
    label: Name = Field(min_length=1, max_length=100)
    value: Name = Field(min_length=1, max_length=500)


class CarChildren(ApiModel):
    images: list[ImageIn] | None = Field(None, max_length=30,
                                         description="Replaces the car's images, in order. One is "
                                                     "primary: the first marked isPrimary, "
                                                     "else the first.")
    features: list[Feature] | None = Field(None, max_length=100)
    specifications: list[SpecificationIn] | None = Field(None, max_length=100)

    def children(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.images is not None:
            out["images"] = [{"url": im.url, "alt_text": im.altText,
                              "is_primary": im.isPrimary} for im in self.images]
        if self.features is not None:
            out["features"] = list(self.features)
        if self.specifications is not None:
            out["specifications"] = [{"label": s.label, "value": s.value}
                                     for s in self.specifications]
        return out


class CarCreate(CarChildren):
    brand: Name = Field(min_length=1, max_length=60)
    model: Name = Field(min_length=1, max_length=80)
    year: int = Field(ge=1900, le=2100)
    priceEur: Decimal = Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)
    mileageKm: int = Field(0, ge=0, le=2_000_000_000)
    fuel: Fuel = "PETROL"
    transmission: Transmission = "MANUAL"
    category: Category = "SEDAN"
    color: Name | None = Field(None, max_length=40)
    description: Text | None = Field(None, max_length=10_000)
    status: CarStatus = "AVAILABLE"
    isFeatured: bool = False
    metaTitle: Name | None = Field(None, max_length=70)
    metaDescription: Name | None = Field(None, max_length=160)

    def values(self) -> dict[str, Any]:
        return {"brand": self.brand, "model": self.model, "year": self.year,
                "price_eur": self.priceEur, "mileage_km": self.mileageKm, "fuel": self.fuel,
                "transmission": self.transmission, "category": self.category,
                "color": self.color, "description": self.description, "status": self.status,
                "is_featured": self.isFeatured, "meta_title": self.metaTitle,
                "meta_description": self.metaDescription}


class CarUpdate(CarChildren):
    brand: Name | None = Field(None, min_length=1, max_length=60)
    model: Name | None = Field(None, min_length=1, max_length=80)
    year: int | None = Field(None, ge=1900, le=2100)
    priceEur: Decimal | None = Field(None, ge=0, le=Decimal("9999999999.99"), decimal_places=2)
    mileageKm: int | None = Field(None, ge=0, le=2_000_000_000)
    fuel: Fuel | None = None
    transmission: Transmission | None = None
    category: Category | None = None
    color: Name | None = Field(None, max_length=40)
    description: Text | None = Field(None, max_length=10_000)
    status: CarStatus | None = None
    isFeatured: bool | None = None
    metaTitle: Name | None = Field(None, max_length=70)
    metaDescription: Name | None = Field(None, max_length=160)
    version: int | None = Field(None, ge=1, le=2**31 - 1)

    def changes(self) -> dict[str, Any]:
        names = {"brand": "brand", "model": "model", "year": "year", "priceEur": "price_eur",
                 "mileageKm": "mileage_km", "fuel": "fuel", "transmission": "transmission",
                 "category": "category", "color": "color", "description": "description",
                 "status": "status", "isFeatured": "is_featured", "metaTitle": "meta_title",
                 "metaDescription": "meta_description"}
        return {column: getattr(self, field) for field, column in names.items()
                if field in self.model_fields_set and getattr(self, field) is not None}
