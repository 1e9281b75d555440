"""Derive a category path from a product description (used when a catalog has no categories).

The rule: upper-case the description, split it into letter-only words (``T-LIGHT`` → ``T LIGHT``)
and read the words from the right. At each word, a two-word phrase ending there wins over the
word alone (``LIGHT HOLDER`` is a candle holder, not a light); a word is tried as written and
singular (``CANDLES``, ``BOXES``, ``DOILIES`` → ``CANDLE``, ``BOX``, ``DOILY``). The first hit
names the product's noun, which maps to a leaf of :data:`TREE`. Colours, sizes, patterns and
other modifiers are simply absent from the tables, so they are skipped: "BAKING SET 9 PIECE
RETROSPOT" reads RETROSPOT, PIECE, SET, then BAKING → Home › Kitchen › Baking. Nothing found:
``("Other",)``.

Product names put the noun last ("WHITE METAL LANTERN"), which is why reading from the right
works; measured on the 3,805 Online Retail products, see tests/catalog/test_categorize.py.
"""

from __future__ import annotations

import re

OTHER: tuple[str, ...] = ("Other",)

KITCHEN = ("Home", "Kitchen")
DECOR = ("Home", "Decor")
GIFTS = ("Gifts & Stationery",)
FASHION = ("Fashion & Accessories",)
SEASONAL = ("Party & Seasonal",)
TOYS = ("Toys & Crafts",)

# Leaf key → full path from the root. Keys are what the word tables below point to.
TREE: dict[str, tuple[str, ...]] = {
    "mugs": (*KITCHEN, "Mugs & Cups"),
    "tableware": (*KITCHEN, "Bowls & Plates"),
    "storage_jars": (*KITCHEN, "Tins & Jars"),
    "baking": (*KITCHEN, "Baking"),
    "lunch": (*KITCHEN, "Lunch Boxes & Bottles"),
    "cutlery": (*KITCHEN, "Cutlery & Utensils"),
    "table_linen": (*KITCHEN, "Table Linen & Aprons"),
    "trays": (*KITCHEN, "Trays"),
    "candles": (*DECOR, "Candles"),
    "candle_holders": (*DECOR, "Candle Holders"),
    "lanterns": (*DECOR, "Lanterns"),
    "lights": (*DECOR, "Lights & Lamps"),
    "clocks": (*DECOR, "Clocks"),
    "frames": (*DECOR, "Frames"),
    "mirrors": (*DECOR, "Mirrors"),
    "signs": (*DECOR, "Signs & Wall Art"),
    "rugs": (*DECOR, "Doormats & Rugs"),
    "furniture": ("Home", "Furniture"),
    "decorations": (*DECOR, "Hanging Decorations"),
    "hooks": (*DECOR, "Hooks & Doorstops"),
    "cushions": (*DECOR, "Cushions & Throws"),
    "vases": (*DECOR, "Vases & Flowers"),
    "ornaments": (*DECOR, "Ornaments"),
    "storage": ("Home", "Storage", "Boxes & Baskets"),
    "bathroom": ("Home", "Bathroom"),
    "hot_water_bottles": ("Home", "Hot Water Bottles"),
    "garden": ("Garden",),
    "cards": (*GIFTS, "Cards"),
    "gift_wrap": (*GIFTS, "Gift Wrap & Tags"),
    "paper": (*GIFTS, "Notebooks & Paper"),
    "desk": (*GIFTS, "Pens & Desk"),
    "stickers": (*GIFTS, "Stickers, Badges & Magnets"),
    "christmas": (*SEASONAL, "Christmas"),
    "easter": (*SEASONAL, "Easter"),
    "party": (*SEASONAL, "Party Supplies"),
    "bags": (*FASHION, "Bags"),
    "purses": (*FASHION, "Purses & Wallets"),
    "clothing": (*FASHION, "Hats, Scarves & Warmers"),
    "jewellery": (*FASHION, "Jewellery"),
    "hair": (*FASHION, "Hair Accessories"),
    "umbrellas": (*FASHION, "Umbrellas"),
    "keyrings": (*FASHION, "Keyrings"),
    "toys": (*TOYS, "Toys & Games"),
    "crafts": (*TOYS, "Craft Kits"),
}

# Two-word phrases, checked before the single word they end with.
PHRASES: dict[tuple[str, str], str] = {
    ("LIGHT", "HOLDER"): "candle_holders",
    ("CANDLE", "HOLDER"): "candle_holders",
    ("TEALIGHT", "HOLDER"): "candle_holders",
    ("WATER", "BOTTLE"): "hot_water_bottles",
    ("LUNCH", "BOX"): "lunch",
    ("LUNCH", "BAG"): "lunch",
    ("CAKE", "STAND"): "baking",
    ("CAKE", "CASE"): "baking",
    ("CUSHION", "COVER"): "cushions",
    ("COAT", "HANGER"): "hooks",
    ("PHOTO", "FRAME"): "frames",
    ("GIFT", "BAG"): "gift_wrap",
    ("PARTY", "BAG"): "party",
    ("WRAPPING", "PAPER"): "gift_wrap",
    ("TISSUE", "PAPER"): "gift_wrap",
    ("TEA", "TOWEL"): "table_linen",
    ("NIGHT", "LIGHT"): "lights",
    ("FAIRY", "LIGHT"): "lights",
    ("STRING", "LIGHT"): "lights",
    ("HAIR", "CLIP"): "hair",
    ("HAIR", "SLIDE"): "hair",
    ("HAIR", "BAND"): "hair",
    ("KEY", "RING"): "keyrings",
    ("PLANT", "POT"): "garden",
    ("WATERING", "CAN"): "garden",
    ("BIRD", "HOUSE"): "garden",
    ("BIRD", "FEEDER"): "garden",
    ("JIGSAW", "PUZZLE"): "toys",
    ("SEWING", "KIT"): "crafts",
    ("CHRISTMAS", "TREE"): "christmas",
    ("GARDEN", "BRUSH"): "garden",
    ("KEY", "CHAIN"): "keyrings",
    ("WALL", "ART"): "signs",
    ("OVEN", "GLOVE"): "table_linen",
}

# Single nouns (singular form). Colours, sizes and motifs are deliberately absent.
WORDS: dict[str, str] = {
    **dict.fromkeys(["MUG", "CUP", "BEAKER", "TEACUP", "SAUCER", "GLASS", "TUMBLER"], "mugs"),
    **dict.fromkeys(["BOWL", "PLATE", "DISH", "JUG", "TEAPOT", "PLATTER"], "tableware"),
    **dict.fromkeys(
        ["TIN", "JAR", "POT", "CONTAINER", "CADDY", "CANISTER", "DISPENSER", "BIN"], "storage_jars"
    ),
    **dict.fromkeys(
        ["CAKE", "CAKES", "BAKING", "CUTTER", "MOULD", "CASE", "CUPCAKE", "SCALE"], "baking"
    ),
    **dict.fromkeys(["FLASK", "BOTTLE"], "lunch"),
    **dict.fromkeys(
        ["CUTLERY", "SPOON", "FORK", "KNIFE", "STRAW", "UTENSIL", "BRUSH", "PAN"], "cutlery"
    ),
    **dict.fromkeys(
        ["NAPKIN", "PLACEMAT", "COASTER", "TABLECLOTH", "APRON", "DOILY"],
        "table_linen",
    ),
    "TRAY": "trays",
    **dict.fromkeys(["CANDLE", "INCENSE", "MATCHES", "MATCH"], "candles"),
    **dict.fromkeys(["CANDLEHOLDER", "CANDLESTICK", "TEALIGHT", "VOTIVE"], "candle_holders"),
    "LANTERN": "lanterns",
    **dict.fromkeys(["LIGHT", "LAMP", "LAMPSHADE", "NIGHTLIGHT", "TORCH"], "lights"),
    **dict.fromkeys(["CLOCK", "ALARM"], "clocks"),
    **dict.fromkeys(["FRAME", "PHOTOFRAME"], "frames"),
    "MIRROR": "mirrors",
    **dict.fromkeys(["DOORMAT", "MAT", "RUG"], "rugs"),
    **dict.fromkeys(["STOOL", "CHAIR", "TABLE", "SHELF", "SCREEN", "PANEL"], "furniture"),
    **dict.fromkeys(["HAT", "CAP", "SCARF", "MAC", "GLOVE", "WARMER", "SLIPPER"], "clothing"),
    **dict.fromkeys(
        ["SIGN", "PLAQUE", "DOORSIGN", "LETTER", "CHALKBOARD", "BLACKBOARD", "ART", "TILE"], "signs"
    ),
    **dict.fromkeys(
        ["DECORATION", "GARLAND", "BUNTING", "WREATH", "MOBILE", "CHIME", "BELL", "TASSEL"],
        "decorations",
    ),
    **dict.fromkeys(["HOOK", "DOORSTOP", "KNOB", "HANGER", "RACK", "PEG"], "hooks"),
    **dict.fromkeys(["CUSHION", "THROW", "BLANKET", "QUILT", "CURTAIN"], "cushions"),
    **dict.fromkeys(["VASE", "FLOWER", "ROSE", "PEONY", "DAISY", "BLOSSOM"], "vases"),
    **dict.fromkeys(
        ["ORNAMENT", "FIGURE", "BIRD", "HEN", "CHICKEN", "GNOME", "PAPERWEIGHT"], "ornaments"
    ),
    **dict.fromkeys(
        ["BOX", "BASKET", "BUCKET", "DRAWER", "CABINET", "CHEST", "ORGANISER", "TIDY", "HAMPER"],
        "storage",
    ),
    **dict.fromkeys(
        ["WASHBAG", "TISSUE", "SPONGE", "SOAP", "TOWEL", "FLANNEL", "TOOTHBRUSH"], "bathroom"
    ),
    **dict.fromkeys(
        [
            "THERMOMETER",
            "WINDMILL",
            "PARASOL",
            "PLANTER",
            "TOADSTOOL",
            "RAKE",
            "TROWEL",
            "HERB",
            "SEED",
        ],
        "garden",
    ),
    **dict.fromkeys(["CARD", "POSTCARD"], "cards"),
    **dict.fromkeys(["WRAP", "RIBBON", "TAG", "GIFTWRAP"], "gift_wrap"),
    **dict.fromkeys(
        ["NOTEBOOK", "JOURNAL", "SKETCHBOOK", "NOTEPAD", "PAD", "BOOK", "ALBUM", "DIARY"], "paper"
    ),
    **dict.fromkeys(
        ["PEN", "PENCIL", "ERASER", "RUBBER", "RULER", "SHARPENER", "CLIP", "TAPE", "STAMP"], "desk"
    ),
    **dict.fromkeys(["STICKER", "MAGNET", "TATTOO", "BADGE"], "stickers"),
    **dict.fromkeys(
        ["CHRISTMAS", "XMAS", "BAUBLE", "ADVENT", "SANTA", "STOCKING", "SNOWFLAKE"], "christmas"
    ),
    **dict.fromkeys(["EASTER", "EGG", "CHICK"], "easter"),
    **dict.fromkeys(["BALLOON", "PARTY", "CONFETTI", "PINATA", "BIRTHDAY"], "party"),
    **dict.fromkeys(["BAG", "HANDBAG", "BACKPACK", "RUCKSACK", "TOTE", "SHOPPER"], "bags"),
    **dict.fromkeys(["PURSE", "WALLET"], "purses"),
    **dict.fromkeys(
        [
            "NECKLACE",
            "NECKLAC",
            "BRACELET",
            "RING",
            "EARRING",
            "EARRINGS",
            "CHARM",
            "BANGLE",
            "BEAD",
            "BROOCH",
            "PENDANT",
        ],
        "jewellery",
    ),
    **dict.fromkeys(["COMB", "HAIRCLIP", "BOBBLE", "SLIDE", "HAIRBAND", "SCRUNCHIE"], "hair"),
    "UMBRELLA": "umbrellas",
    "KEYRING": "keyrings",
    **dict.fromkeys(
        [
            "TOY",
            "DOLL",
            "TEDDY",
            "GAME",
            "JIGSAW",
            "PUZZLE",
            "HELICOPTER",
            "MARBLE",
            "BALL",
            "SKITTLE",
            "DOMINO",
            "YOYO",
            "SPINNING",
            "KITE",
            "SOLDIER",
            "DINOSAUR",
            "BUNNY",
        ],
        "toys",
    ),
    **dict.fromkeys(["KIT", "CRAFT", "PAINT", "CRAYON", "KNITTING", "SEWING"], "crafts"),
}

_WORD = re.compile(r"[A-Z]+")


def _singulars(word: str) -> tuple[str, ...]:
    """The word as written, then its plausible singular forms."""
    forms = [word]
    if word.endswith("IES") and len(word) > 4:
        forms.append(word[:-3] + "Y")
    if word.endswith("ES") and len(word) > 3:
        forms.append(word[:-2])
    if word.endswith("S") and len(word) > 2:
        forms.append(word[:-1])
    return tuple(forms)


def category_key(description: str) -> str | None:
    """The :data:`TREE` key for ``description``, or None when no product noun is recognised."""
    words = _WORD.findall(description.upper())
    for i in range(len(words) - 1, -1, -1):
        for form in _singulars(words[i]):
            if i > 0 and (key := PHRASES.get((words[i - 1], form))):
                return key
        for form in _singulars(words[i]):
            if key := WORDS.get(form):
                return key
    return None


def categorize(description: str) -> tuple[str, ...]:
    """The category path (root first) for a product description; ``("Other",)`` when unknown."""
    key = category_key(description)
    return TREE[key] if key else OTHER
