"""The simulated company's fixed catalogue: scales, subsidiaries, currencies, products, prices."""

from __future__ import annotations

from dataclasses import dataclass

GENERATOR_VERSION = "1.0.0"


@dataclass(frozen=True)
class Scale:
    """Size knobs of one sandbox scale."""

    customers: int  # customers won over the whole history (initial book included)
    usage_customers_share: float  # share of customers on annual plans paying by wire with usage


SCALES: dict[str, Scale] = {
    "small": Scale(customers=300, usage_customers_share=0.03),
    "medium": Scale(customers=5_500, usage_customers_share=0.03),
    "large": Scale(customers=60_000, usage_customers_share=0.03),
}


@dataclass(frozen=True)
class Subsidiary:
    """A NetSuite subsidiary (legal entity) and where its customers live."""

    key: str
    erp_id: int
    name: str
    country: str
    currency: str
    customer_countries: tuple[str, ...]


SUBSIDIARIES: tuple[Subsidiary, ...] = (
    Subsidiary("US", 1, "CloseLoop Inc.", "US", "USD", ("US",)),
    Subsidiary("EU", 2, "CloseLoop Europe B.V.", "NL", "EUR", ("DE", "FR", "NL", "ES", "IT")),
    Subsidiary("UK", 3, "CloseLoop UK Ltd", "GB", "GBP", ("GB",)),
    Subsidiary("JP", 4, "CloseLoop KK", "JP", "JPY", ("JP",)),
)
SUBSIDIARY_WEIGHTS = (0.55, 0.22, 0.13, 0.10)
SUBSIDIARY_BY_KEY = {s.key: s for s in SUBSIDIARIES}

#: NetSuite currency internal ids (KWD exists only where a profile bills in it).
CURRENCY_ERP_ID = {"USD": 1, "EUR": 2, "GBP": 3, "JPY": 4, "KWD": 5}
CURRENCY_NAMES = {
    "USD": "US Dollar",
    "EUR": "Euro",
    "GBP": "British Pound",
    "JPY": "Japanese Yen",
    "KWD": "Kuwaiti Dinar",
}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KWD": "KD"}
#: Starting FX rates (1 unit = rate USD) of the daily random walk.
FX_START = {"EUR": "1.085000", "GBP": "1.270000", "JPY": "0.006700", "KWD": "3.250000"}
#: Prices in Kuwaiti dinar, in fils (thousandths; Stripe's three-decimal amounts are multiples
#: of 10), for profiles that bill some customers in KWD: {product code: (monthly, annual)}.
KWD_PRICES = {
    "PLAT-SEAT": (15_370, 166_050),
    "ADDON-ANALYTICS": (4_610, 49_790),
    "SUPPORT-PREMIUM": (153_850, 1_661_540),
    "SUPPORT-ENTERPRISE": (461_540, 4_984_620),
    "API-USAGE": (620, 0),
}


@dataclass(frozen=True)
class Product:
    """A product: Salesforce Product2, Stripe product, NetSuite item."""

    n: int
    code: str
    name: str
    family: str
    per_seat: bool
    recurring: bool
    #: price per billing unit: {currency: (monthly minor, annual minor)}; one-time prices use
    #: the first element only.
    prices: dict[str, tuple[int, int]]


PRODUCTS: tuple[Product, ...] = (
    Product(
        1,
        "PLAT-SEAT",
        "Platform Seat",
        "Platform",
        True,
        True,
        {
            "USD": (5_000, 54_000),
            "EUR": (4_600, 49_700),
            "GBP": (3_900, 42_100),
            "JPY": (7_500, 81_000),
        },
    ),
    Product(
        2,
        "ADDON-ANALYTICS",
        "Analytics Add-on",
        "Add-on",
        True,
        True,
        {
            "USD": (1_500, 16_200),
            "EUR": (1_400, 15_100),
            "GBP": (1_200, 12_900),
            "JPY": (2_300, 24_800),
        },
    ),
    Product(
        3,
        "SUPPORT-PREMIUM",
        "Premium Support",
        "Support",
        False,
        True,
        {
            "USD": (50_000, 540_000),
            "EUR": (46_000, 497_000),
            "GBP": (39_500, 426_600),
            "JPY": (75_000, 810_000),
        },
    ),
    Product(
        4,
        "SUPPORT-ENTERPRISE",
        "Enterprise Support",
        "Support",
        False,
        True,
        {
            "USD": (150_000, 1_620_000),
            "EUR": (138_000, 1_490_400),
            "GBP": (118_500, 1_279_800),
            "JPY": (225_000, 2_430_000),
        },
    ),
    Product(
        5,
        "API-USAGE",
        "API Usage (per 1,000 calls)",
        "Usage",
        False,
        False,
        {"USD": (200, 0), "EUR": (185, 0), "GBP": (160, 0), "JPY": (30, 0)},
    ),
)
PRODUCT_BY_CODE = {p.code: p for p in PRODUCTS}
USAGE_PRODUCT = PRODUCT_BY_CODE["API-USAGE"]

INDUSTRIES = (
    "Technology",
    "Finance",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Media",
    "Education",
    "Logistics",
)
NAME_LEFT = (
    "Acme", "Blue", "Cedar", "Delta", "Echo", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Orion", "Pine", "Quartz", "River", "Summit", "Tidal",
    "Umber", "Vertex", "Willow", "Xenon", "Yarrow", "Zephyr", "Atlas", "Beacon", "Cobalt", "Dune",
    "Ember", "Fjord", "Glacier", "Helix", "Indigo", "Jade", "Krypton", "Lotus", "Meridian", "Nova",
)  # fmt: skip
NAME_RIGHT = (
    "Analytics", "Labs", "Systems", "Logistics", "Health", "Foods", "Robotics", "Capital",
    "Media", "Networks", "Partners", "Dynamics", "Software", "Energy", "Retail", "Works",
    "Bio", "Cloud", "Finance", "Studios", "Motors", "Apparel", "Pharma", "Textiles",
)  # fmt: skip
NAME_SUFFIX = {
    "US": ("Inc.", "LLC", "Corp."),
    "GB": ("Ltd",),
    "DE": ("GmbH", "AG"),
    "FR": ("SAS", "SA"),
    "NL": ("B.V.",),
    "ES": ("S.L.",),
    "IT": ("S.r.l.",),
    "JP": ("K.K.",),
}
FIRST_NAMES = (
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Hana", "Yuki", "Lukas", "Emma", "Marie", "Pierre", "Sofia", "Marco", "Oliver", "Amelia",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Muller", "Schmidt", "Dubois",
    "Rossi", "Tanaka", "Sato", "Jones", "Wilson", "Taylor", "Martin", "Lopez", "Moreau",
)  # fmt: skip
CITIES = {
    "US": ("New York", "Austin", "Seattle", "Chicago", "Denver"),
    "GB": ("London", "Manchester", "Leeds"),
    "DE": ("Berlin", "Munich", "Hamburg"),
    "FR": ("Paris", "Lyon"),
    "NL": ("Amsterdam", "Rotterdam"),
    "ES": ("Madrid", "Barcelona"),
    "IT": ("Milan", "Rome"),
    "JP": ("Tokyo", "Osaka"),
}
TITLES = ("CFO", "Controller", "VP Finance", "IT Director", "CTO", "Head of Operations")
