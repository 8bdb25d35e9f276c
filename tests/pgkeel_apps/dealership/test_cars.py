"""Cars: typo-forgiving search and its ranking, the deleted and sold rules, slugs, keyset
paging, and the cache never serving a car or a list older than a committed write."""

from __future__ import annotations

from typing import Any

from tests.pgkeel_apps.conftest import Api

from .conftest import ADMIN, Dealer, new_dealer


def brands_models(items: list[dict[str, Any]]) -> list[str]:
    return [f"{c['brand']} {c['model']}" for c in items]


async def test_search_forgives_typos_and_ranks_exact_then_prefix_then_fuzzy(dealer: Dealer):
    await dealer.car("Toyota", "Corolla")
    await dealer.car("Toyota", "Camry")
    await dealer.car("Honda", "Civic")
    found = await dealer.get("/cars/search", q="Toyta Corola")
    assert brands_models(found["items"])[0] == "Toyota Corolla"
    assert found["items"][0]["match"] == "fuzzy"
    assert "Honda Civic" not in brands_models(found["items"])

    await dealer.car("Audi", "A4")
    await dealer.car("Audix", "Z")
    await dealer.car("Aude", "Q")
    ranked = (await dealer.get("/cars/search", q="audi"))["items"]
    assert [(c["brand"], c["match"]) for c in ranked] == [
        ("Audi", "exact"), ("Audix", "prefix"), ("Aude", "fuzzy")]

    # The list's q matches what search matches (here: all three), in the list's order.
    listed = (await dealer.get("/cars", q="audi", sort="brand"))["items"]
    assert [c["brand"] for c in listed] == ["Aude", "Audi", "Audix"]
    listed = (await dealer.get("/cars", q="Toyta Corola"))["items"]
    assert sorted(brands_models(listed)) == ["Toyota Camry", "Toyota Corolla"]
    assert (await dealer.get("/cars", q="civic"))["items"][0]["model"] == "Civic"


async def test_search_q_is_validated(api: Api, dealer: Dealer):
    for q in ("", "!!!", "a b c d e f g"):
        response = await api.client.get(f"{dealer.public}/cars/search", params={"q": q})
        assert response.status_code in (400, 422), (q, response.text)
        assert {"code", "message", "details", "hint"} <= set(response.json())


async def test_deleted_and_sold_cars_are_not_listed_or_found(api: Api, dealer: Dealer):
    kept = await dealer.car("Volvo", "XC60")
    sold = await dealer.car("Volvo", "V60", status="SOLD")
    gone = await dealer.car("Volvo", "XC90")
    draft = await dealer.car("Volvo", "S90", status="DRAFT")
    response = await api.client.delete(f"{ADMIN}/cars/{gone['id']}", headers=dealer.headers)
    assert response.status_code == 204
    listed = {c["id"] for c in (await dealer.get("/cars"))["items"]}
    searched = {c["id"] for c in (await dealer.get("/cars/search", q="volvo"))["items"]}
    assert listed == searched == {kept["id"]}
    # A sold car's page stays reachable (it says SOLD); drafts and deleted cars are 404.
    assert (await dealer.get(f"/cars/{sold['slug']}"))["status"] == "SOLD"
    for car in (gone, draft):
        response = await api.client.get(f"{dealer.public}/cars/{car['slug']}")
        assert response.status_code == 404, response.text
    staff = await api.client.get(f"{ADMIN}/cars", headers=dealer.headers)
    assert {c["id"] for c in staff.json()["items"]} == {kept["id"], sold["id"], draft["id"]}


async def test_slugs_are_unique_with_a_suffix_on_collision(dealer: Dealer):
    cars = [await dealer.car("Škoda", "Octavia RS", 2021) for _ in range(3)]
    assert [c["slug"] for c in cars] == ["skoda-octavia-rs-2021", "skoda-octavia-rs-2021-2",
                                         "skoda-octavia-rs-2021-3"]
    page = await dealer.get("/cars/skoda-octavia-rs-2021-2")
    assert page["id"] == cars[1]["id"]


async def test_the_keyset_walk_visits_each_car_once(api: Api, dealer: Dealer):
    made = {(await dealer.car("Kia", f"Model {i}", priceEur=f"{1000 + i % 3}.00"))["id"]
            for i in range(7)}
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3, "sort": "priceEur"}
    while True:
        page = await dealer.get("/cars", **params)
        seen += [c["id"] for c in page["items"]]
        if not page["nextCursor"]:
            break
        params = {"limit": 3, "sort": "priceEur", "cursor": page["nextCursor"]}
    assert len(seen) == len(set(seen)) == 7 and set(seen) == made


async def test_filters_on_brand_category_price_year_fuel_and_status(dealer: Dealer):
    await dealer.car("Mazda", "CX-5", 2019, category="SUV", fuel="DIESEL", priceEur="20000")
    await dealer.car("Mazda", "MX-5", 2022, category="CONVERTIBLE", priceEur="30000")
    await dealer.car("Seat", "Leon", 2022, status="RESERVED", priceEur="15000")
    by_brand = await dealer.get("/cars", brand="Mazda")
    assert sorted(c["model"] for c in by_brand["items"]) == ["CX-5", "MX-5"]
    assert [c["model"] for c in (await dealer.get("/cars", category="SUV"))["items"]] == ["CX-5"]
    ranged = await dealer.get("/cars", **{"priceEur[gte]": "16000", "year[gte]": "2020"})
    assert [c["model"] for c in ranged["items"]] == ["MX-5"]
    assert [c["model"] for c in (await dealer.get("/cars", fuel="DIESEL"))["items"]] == ["CX-5"]
    assert [c["model"] for c in (await dealer.get("/cars", status="RESERVED"))["items"]] == [
        "Leon"]
    assert (await dealer.get("/cars", status="SOLD"))["items"] == []


async def test_no_stale_read_after_any_car_write(api: Api, dealer: Dealer):
    car = await dealer.car("Ford", "Focus", isFeatured=True, images=[
        {"url": "https://cdn.example.com/a.jpg"}, {"url": "https://cdn.example.com/b.jpg",
                                                   "isPrimary": True}],
        features=["Heated seats"], specifications=[{"label": "Power", "value": "150 hp"}])
    other = await dealer.car("Ford", "Fiesta")
    slug = car["slug"]
    assert [i["isPrimary"] for i in car["images"]] == [False, True]
    # Fill every cache the car appears in.
    reads = ["/cars", "/cars?brand=Ford", "/cars?category=SEDAN", "/cars/featured",
             f"/cars/{slug}", f"/cars/{other['slug']}/related"]
    for path in reads:
        await dealer.get(path)
    await dealer.get(f"/cars/{slug}")   # a hit

    await dealer.patch(car["id"], priceEur="9999.00", features=["Tow bar", "Sunroof"])
    page = await dealer.get(f"/cars/{slug}")
    assert page["priceEur"] == "9999.00" and page["features"] == ["Tow bar", "Sunroof"]
    for path in reads[:4]:
        items = (await dealer.get(path))["items"]
        assert [c["priceEur"] for c in items if c["id"] == car["id"]] == ["9999.00"], path
    related = (await dealer.get(f"/cars/{other['slug']}/related"))["items"]
    assert [c["priceEur"] for c in related] == ["9999.00"]
    staff = await api.client.get(f"{ADMIN}/cars/{car['id']}", headers=dealer.headers)
    assert staff.json()["priceEur"] == "9999.00"

    await dealer.patch(car["id"], isFeatured=False)
    assert (await dealer.get("/cars/featured"))["items"] == []
    await api.client.delete(f"{ADMIN}/cars/{car['id']}", headers=dealer.headers)
    assert car["id"] not in {c["id"] for c in (await dealer.get("/cars"))["items"]}
    assert (await api.client.get(f"{dealer.public}/cars/{slug}")).status_code == 404
    assert (await dealer.get(f"/cars/{other['slug']}/related"))["items"] == []
    # A slug cached as "not found" is dropped when a car takes it.
    again = await dealer.car("Ford", "Ka")
    missing = await api.client.get(f"{dealer.public}/cars/ford-ka-2020-2")
    assert missing.status_code == 404
    second = await dealer.car("Ford", "Ka")
    assert second["slug"] == "ford-ka-2020-2" != again["slug"]
    assert (await dealer.get("/cars/ford-ka-2020-2"))["id"] == second["id"]


async def test_stale_versions_are_409_and_one_image_is_primary(api: Api, dealer: Dealer):
    car = await dealer.car("Opel", "Astra")
    await dealer.patch(car["id"], color="red", version=car["version"])
    stale = await api.client.patch(f"{ADMIN}/cars/{car['id']}", headers=dealer.headers,
                                   json={"color": "blue", "version": car["version"]})
    assert stale.status_code == 409
    two = await api.client.patch(f"{ADMIN}/cars/{car['id']}", headers=dealer.headers, json={
        "images": [{"url": "https://x.example/1.jpg", "isPrimary": True},
                   {"url": "https://x.example/2.jpg", "isPrimary": True}]})
    assert two.status_code == 200, two.text
    assert [i["isPrimary"] for i in two.json()["images"]] == [True, False]
    plain = await dealer.patch(car["id"], images=[{"url": "https://x.example/3.jpg"},
                                                  {"url": "https://x.example/4.jpg"}])
    assert [i["isPrimary"] for i in plain["images"]] == [True, False]


async def test_dealers_see_only_their_own_cars(api: Api, dealer: Dealer):
    mine = await dealer.car("Dacia", "Duster")
    other = await new_dealer(api)
    assert (await other.get("/cars"))["items"] == []
    assert (await other.get("/cars/search", q="dacia"))["items"] == []
    response = await api.client.get(f"{other.public}/cars/{mine['slug']}")
    assert response.status_code == 404
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"color": "x"}} if method == "patch" else {}
        response = await getattr(api.client, method)(f"{ADMIN}/cars/{mine['id']}",
                                                     headers=other.headers, **kwargs)
        assert response.status_code == 404, (method, response.text)
    assert (await api.client.get("/v1/dealers/no-such-dealer/cars")).status_code == 404


async def test_viewers_read_and_cannot_write(api: Api, dealer: Dealer):
    await dealer.car("Fiat", "Panda")
    viewer = await api.as_(dealer.slug, "user0")
    response = await api.client.post(f"{ADMIN}/cars", headers=viewer, json={
        "brand": "Fiat", "model": "500", "year": 2020, "priceEur": "1"})
    assert response.status_code == 403
