"""Word lists for the demo shop, "Fernhill": products, people, couriers and coupon codes.

All invented for the generator; nothing is taken from a dataset. The simulation draws
indexes into these lists, the writer turns them into names and texts.
"""

from __future__ import annotations

SHOP = "Fernhill"

MATERIALS = (
    "linen", "cotton", "merino", "denim", "leather", "wool", "corduroy", "canvas", "suede",
    "organic cotton", "recycled nylon", "cashmere", "jersey", "silk", "fleece",
)  # fmt: skip
_CLOTH = (0, 1, 2, 5, 6, 9, 11, 12, 13, 14)
_SHOE = (4, 7, 8)
_BAG = (4, 7, 10, 3)

# (noun, typical price in EUR, how it is sized, which materials it comes in)
CATEGORIES = (
    ("shirt", 45, "clothing", (0, 1, 9, 6, 3)),
    ("dress", 69, "clothing", (0, 1, 13, 12)),
    ("jumper", 75, "clothing", (2, 5, 11, 1)),
    ("cardigan", 79, "clothing", (2, 5, 11)),
    ("t-shirt", 22, "clothing", (1, 9, 12)),
    ("hoodie", 55, "clothing", (1, 9, 14)),
    ("pair of jeans", 79, "clothing", (3,)),
    ("pair of chinos", 59, "clothing", (1, 6, 0)),
    ("skirt", 49, "clothing", (0, 3, 6, 5)),
    ("jacket", 129, "clothing", (3, 4, 5, 10, 6)),
    ("coat", 189, "clothing", (5, 11, 2)),
    ("pair of sneakers", 89, "shoes", (*_SHOE, 7)),
    ("pair of boots", 149, "shoes", (4, 8)),
    ("pair of sandals", 49, "shoes", (4, 8, 7)),
    ("scarf", 35, None, (5, 11, 2, 13)),
    ("backpack", 79, None, _BAG),
    ("tote bag", 39, None, (7, 1, 4)),
    ("wallet", 45, None, (4, 8)),
    ("beanie", 25, None, (2, 5, 11)),
    ("belt", 39, None, (4, 8)),
)

ADJECTIVES = (
    "Relaxed", "Slim", "Oversized", "Classic", "Cropped", "Everyday", "Weekend", "Tailored",
    "Easy", "Heritage", "Coastal", "Studio", "Trail", "City", "Harbour", "Meadow", "Nordic",
    "Vintage", "Essential", "Cosy", "Lightweight", "Field", "Boxy", "Straight",
)  # fmt: skip

COLOURS = (
    "navy", "black", "olive", "sand", "off-white", "burgundy", "charcoal", "rust",
    "sky blue", "forest green", "camel", "grey marl", "mustard", "stone", "dusty pink",
)  # fmt: skip

CLOTHING_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = tuple(str(size) for size in range(36, 47))

COUPONS = ("WELCOME10", "NEWS10", "SPRING15", "LOYAL15", "SUMMER20", "APP10", "BLACKFRIDAY25")

COURIERS = ("DHL", "DPD", "GLS", "UPS", "Hermes", "PostNL", "Colissimo", "the courier")

VISIT_SOURCES = ("organic", "newsletter", "ads", "social", "direct")
LOGIN_DEVICES = ("mobile", "desktop", "app", "tablet", "mobile")

# Support agents (demo user accounts without a usable password).
AGENTS = ("Maria", "Jonas", "Aisha", "Tom", "Lea", "Karim", "Sofia", "Ben")

FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Max", "Emma", "Paul", "Mia", "Felix", "Lena", "Jonas",
    "Hannah", "Leon", "Marie", "Finn", "Laura", "Elias", "Julia", "Noah", "Clara", "Tim",
    "Camille", "Louis", "Chloe", "Hugo", "Manon", "Jules", "Ines", "Arthur", "Lea", "Theo",
    "Sanne", "Daan", "Fleur", "Bram", "Lotte", "Joris", "Eva", "Sem", "Julie", "Ruben",
    "Giulia", "Marco", "Chiara", "Luca", "Sara", "Matteo", "Elena", "Davide", "Alice",
    "Carmen", "Javier", "Lucia", "Pablo", "Marta", "Diego", "Nuria", "Alvaro", "Irene",
    "Zofia", "Jakub", "Natalia", "Piotr", "Ola", "Kacper", "Aoife", "Cian", "Niamh", "Sean",
    "Freja", "Mads", "Ida", "Emil", "Astrid", "Oskar", "Elin", "Nils", "Ayse", "Mehmet",
    "Fatima", "Omar", "Yasmin", "Ali", "Priya", "Arjun", "Mei", "Chen", "Olga", "Ivan",
    "Grace", "Oliver", "Amelia", "Jack", "Isla", "Harry", "Maya", "Sam", "Nora", "Adam",
)  # fmt: skip

LAST_NAMES = (
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Hoffmann", "Koch", "Richter", "Wolf", "Klein", "Neumann", "Braun", "Zimmermann",
    "Martin", "Bernard", "Dubois", "Durand", "Leroy", "Moreau", "Laurent", "Simon",
    "Michel", "Lefevre", "de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser",
    "Smit", "Mulder", "Peeters", "Maes", "Janssens", "Rossi", "Russo", "Ferrari", "Esposito",
    "Bianchi", "Romano", "Colombo", "Ricci", "Garcia", "Fernandez", "Lopez", "Martinez",
    "Sanchez", "Perez", "Gomez", "Ruiz", "Nowak", "Kowalski", "Wisniewski", "Kaminski",
    "Murphy", "Kelly", "Byrne", "Walsh", "Nielsen", "Jensen", "Hansen", "Larsen",
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Yilmaz", "Kaya", "Demir", "Haddad",
    "Mansour", "Patel", "Sharma", "Wang", "Li", "Petrov", "Novak", "Horvat", "Smith",
    "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts", "Lange", "Krause",
)  # fmt: skip

EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

# International dialling codes of COUNTRIES in crm.demo.world, in the same order.
DIALLING_CODES = ("+49", "+33", "+31", "+43", "+32", "+39", "+34", "+48", "+353", "+45", "+46")


def product_name(adjective: int, material: int, category: int) -> str:
    """'Relaxed Linen Shirt'; 'pair of' is dropped from names ('Trail Suede Boots')."""
    noun = CATEGORIES[category][0].removeprefix("pair of ")
    return f"{ADJECTIVES[adjective]} {MATERIALS[material].title()} {noun.title()}"


def sku(product: int) -> str:
    """The shop's stock-keeping unit for a product index."""
    return f"SKU-{10001 + product}"
