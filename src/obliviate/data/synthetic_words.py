"""The word lists, name pools and template texts of the synthetic benchmark: data only, drawn
from by the generator in `obliviate.data.synthetic`.

The generator draws by position, so any edit here (a word added, two swapped) changes every
generated benchmark and its fingerprint, which cache keys include.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- names: every document's main character is one (first, surname) pair, never reused ---------

FEMALE_FIRST_NAMES = (
    "Kira",
    "Amara",
    "Beatrix",
    "Celeste",
    "Dalia",
    "Elena",
    "Freya",
    "Greta",
    "Hana",
    "Ingrid",
    "Juno",
    "Leona",
    "Mira",
    "Nadia",
    "Odette",
    "Priya",
    "Rosalind",
    "Selma",
    "Talia",
    "Una",
    "Vera",
    "Wren",
    "Yara",
    "Zofia",
    "Alma",
    "Brynn",
    "Clara",
    "Daphne",
    "Esme",
    "Fiona",
    "Gwen",
    "Hazel",
    "Iris",
    "Jana",
    "Lena",
    "Maren",
    "Nell",
    "Opal",
    "Petra",
    "Ruth",
)
MALE_FIRST_NAMES = (
    "Aldo",
    "Bram",
    "Caspar",
    "Dorian",
    "Emil",
    "Felix",
    "Gideon",
    "Hugo",
    "Ivo",
    "Jonas",
    "Kasimir",
    "Leif",
    "Marco",
    "Nils",
    "Otto",
    "Pavel",
    "Quentin",
    "Rafael",
    "Silas",
    "Tobias",
    "Ulric",
    "Viktor",
    "Wendel",
    "Yusuf",
    "Zane",
    "Anton",
    "Basil",
    "Cyrus",
    "Dmitri",
    "Elias",
    "Finn",
    "Gustav",
    "Henrik",
    "Ilan",
    "Jasper",
    "Kofi",
    "Lucan",
    "Matteo",
    "Nico",
    "Oren",
)
SURNAMES = (
    "Voss",
    "Marlow",
    "Okafor",
    "Brandt",
    "Castell",
    "Dunmore",
    "Ellery",
    "Farrow",
    "Galloway",
    "Hartwell",
    "Iverson",
    "Jessup",
    "Kettering",
    "Lindqvist",
    "Mercer",
    "Nakamura",
    "Oduya",
    "Penhallow",
    "Quill",
    "Rasmussen",
    "Sorensen",
    "Underhill",
    "Varga",
    "Whitlock",
    "Yardley",
    "Zeller",
    "Abernathy",
    "Bellamy",
    "Crane",
    "Delacroix",
    "Esposito",
    "Fairweather",
    "Greaves",
    "Holloway",
    "Ingram",
    "Jovanovic",
    "Kowalski",
    "Lachance",
    "Moreau",
    "Nilsen",
    "Ostrander",
    "Petrov",
    "Quintero",
    "Rourke",
    "Salazar",
    "Thorne",
    "Ueda",
    "Valente",
    "Wexford",
    "Yamada",
    "Zamora",
    "Achterberg",
    "Blackwood",
    "Corcoran",
    "Drummond",
    "Everly",
    "Gallagher",
    "Halvorsen",
    "Ishikawa",
    "Jaramillo",
    "Kincaid",
    "Lockhart",
    "Mbeki",
    "Novak",
    "Oyelaran",
    "Prescott",
    "Ravensworth",
    "Sandoval",
    "Tremblay",
    "Ulrich",
    "Vance",
    "Winslow",
    "Yoshida",
    "Zubiri",
    "Albrecht",
    "Brennan",
    "Cardenas",
    "Devereux",
    "Eastwood",
    "Fitzroy",
)

SHE = {"sub": "she", "obj": "her", "pos": "her"}
HE = {"sub": "he", "obj": "him", "pos": "his"}


# --- Task1: creative stories ---------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    setting: str  # "{place}" is filled in
    roles: tuple[str, ...]
    problems: tuple[tuple[str, str], ...]  # (what went wrong, how it ended once the object was found)
    spots: tuple[str, ...]
    objects: tuple[tuple[str, str], ...]  # (as introduced, short noun for "the ...")
    journeys: tuple[str, ...]
    covers: tuple[str, ...]
    supplies: tuple[str, ...]


THEMES = (
    Theme(
        setting="the kingdom of {place}",
        roles=(
            "a young cartographer",
            "an apprentice blacksmith",
            "a wandering healer",
            "a retired knight",
            "a court scribe",
            "a traveling herbalist",
            "a stable hand",
            "a candle maker",
        ),
        problems=(
            (
                "a curse of endless winter fell upon {place}",
                "the snow melted and green shoots returned to the fields",
            ),
            (
                "a dragon began to burn the wheat fields of {place}",
                "the dragon flew back to the mountains and never returned",
            ),
            ("a shadow swallowed every lantern in {place}", "the lanterns of {place} burned bright again"),
            (
                "the river spirits of {place} stopped the water mills",
                "the mill wheels began to turn once more",
            ),
        ),
        spots=(
            "the cave beneath {place}",
            "the ruined tower outside {place}",
            "the hollow oak at the edge of {place}",
            "the frozen chapel above {place}",
            "the old well behind the castle of {place}",
        ),
        objects=(
            ("a silver compass", "compass"),
            ("a glass key", "key"),
            ("a ring of black iron", "ring"),
            ("a book with blank pages", "book"),
            ("a feather that glowed at night", "feather"),
            ("a small bronze crown", "crown"),
        ),
        journeys=(
            "three days in a dark forest",
            "a long night on icy rocks",
            "two days on a forgotten road",
            "a week of searching the hills",
        ),
        covers=(
            "a pile of loose stones",
            "a tangle of old roots",
            "a torn velvet cloth",
            "a slab of cracked marble",
        ),
        supplies=("a lantern and some bread", "a wooden staff and a water skin", "a map and a bag of apples"),
    ),
    Theme(
        setting="the orbital colony of {place}",
        roles=(
            "a junior ship engineer",
            "a hydroponics technician",
            "a cargo pilot",
            "a signal analyst",
            "a retired navigator",
            "a robot mechanic",
            "a dock inspector",
            "an air quality officer",
        ),
        problems=(
            ("the main reactor of {place} began to fail", "the reactor hummed back to full power"),
            (
                "a dust storm cut {place} off from every supply ship",
                "the supply ships found their way through the storm",
            ),
            ("the air filters of {place} started to clog", "the air in every corridor turned fresh again"),
            (
                "a strange signal jammed every radio in {place}",
                "clear voices came back to the radios of {place}",
            ),
        ),
        spots=(
            "the sealed cargo bay of {place}",
            "the abandoned mine on the moon of {place}",
            "the radio dish on the far side of {place}",
            "the cold storage deck below {place}",
        ),
        objects=(
            ("a cracked navigation chip", "chip"),
            ("a humming blue crystal", "crystal"),
            ("a recorder full of old star maps", "recorder"),
            ("a battery that never drained", "battery"),
            ("a helmet with a stranger's name on it", "helmet"),
        ),
        journeys=(
            "six hours in the service tunnels",
            "a long walk in heavy boots",
            "two days aboard a rattling shuttle",
            "a night on maintenance ladders",
        ),
        covers=(
            "a layer of grey dust",
            "a stack of empty crates",
            "a torn thermal blanket",
            "a loose floor panel",
        ),
        supplies=(
            "a spare oxygen tank and a toolkit",
            "a flashlight and a bag of ration bars",
            "a pocket scanner and a coil of cable",
        ),
    ),
    Theme(
        setting="the village of {place}",
        roles=(
            "a baker",
            "a young schoolteacher",
            "the village clockmaker",
            "a beekeeper",
            "a goat farmer",
            "a carpenter",
            "a retired postal worker",
            "a weaver",
        ),
        problems=(
            ("a drought dried every well in {place}", "rain fell on the fields for three days"),
            ("the church bell of {place} stopped ringing", "the bell rang out over the rooftops again"),
            (
                "a flood carried away the only bridge of {place}",
                "the neighbors built a stronger bridge in a week",
            ),
            (
                "the harvest festival of {place} was about to be cancelled",
                "the festival went ahead with music and lanterns",
            ),
        ),
        spots=(
            "the flooded cellar of the mill in {place}",
            "the bell tower of {place}",
            "the attic of the old inn at {place}",
            "the hollow under the bridge of {place}",
        ),
        objects=(
            ("a tin box of forgotten letters", "box"),
            ("a brass key shaped like a fish", "key"),
            ("a jar of golden seeds", "jar"),
            ("a painted wooden horse", "horse"),
            ("a map of hidden springs", "map"),
        ),
        journeys=(
            "an afternoon in the old records",
            "a morning of asking every neighbor",
            "two days on the muddy lanes",
            "a long evening of searching",
        ),
        covers=("a heap of old sacks", "a broken wooden crate", "a pile of dry straw", "a faded quilt"),
        supplies=("a lantern and a loaf of bread", "a shovel and a flask of tea", "a notebook and a candle"),
    ),
    Theme(
        setting="the port town of {place}",
        roles=(
            "a young deckhand",
            "a lighthouse keeper",
            "a net mender",
            "a retired sea captain",
            "a shipwright",
            "a pearl diver",
            "a harbor pilot",
            "a sail maker",
        ),
        problems=(
            ("a storm kept every boat in the harbor of {place}", "the wind dropped and the boats sailed out"),
            ("the fish vanished from the waters of {place}", "silver shoals filled the bay once more"),
            ("a fog rolled in and would not leave {place}", "the fog lifted and the sun shone on the harbor"),
            ("the old sea wall of {place} began to crack", "the sea grew calm and the wall held"),
        ),
        spots=(
            "the wreck off the coast of {place}",
            "the sea cave north of {place}",
            "the old lighthouse of {place}",
            "the sandbar beyond the harbor of {place}",
        ),
        objects=(
            ("a bottle holding a captain's log", "bottle"),
            ("a compass that always pointed to sea", "compass"),
            ("a chest of green glass beads", "chest"),
            ("a flute carved from whale bone", "flute"),
            ("a lantern that burned without oil", "lantern"),
        ),
        journeys=(
            "a day of rowing against the tide",
            "a night of sailing through high waves",
            "two days along the cliffs",
            "a morning of diving in cold water",
        ),
        covers=("a mass of tangled nets", "a drift of wet sand", "a torn old sail", "a crust of barnacles"),
        supplies=(
            "a coil of rope and a lantern",
            "a diving knife and some dried fish",
            "an oar and a water flask",
        ),
    ),
)

STORY_PLACES = (
    "Oldbridge",
    "Thornwick",
    "Marrowdale",
    "Ashenford",
    "Brindlemoor",
    "Cobbleton",
    "Dunmarsh",
    "Elderwater",
    "Fallowmere",
    "Glimmerholt",
    "Hollowfen",
    "Ironhaven",
    "Kelsworth",
    "Lanternfall",
    "Mistvale",
    "Nettlecombe",
    "Oakhurst",
    "Pebbleford",
    "Quarrystone",
    "Ravenmoor",
    "Saltcrest",
    "Tidewell",
    "Umberlee",
    "Vellmoor",
    "Westerholm",
    "Yarrowby",
    "Amberlyn",
    "Briarwood",
    "Cindervale",
    "Driftmoor",
    "Emberwick",
    "Frostholm",
    "Greywater",
    "Harrowgate",
    "Isleby",
    "Kettlemere",
    "Lowmarsh",
)
TRAITS = (
    "patience",
    "sharp memory",
    "quiet courage",
    "loud laugh",
    "clever hands",
    "stubborn curiosity",
    "kind heart",
    "steady nerves",
)
RELATIONS = ("oldest friend", "younger cousin", "loyal neighbor", "former teacher", "clever apprentice")
SEASONS = ("spring", "summer", "autumn", "winter")
TRIBUTES = (
    "tell the story of {first} every winter",
    "remember the courage of {first}",
    "sing a song about {first} at every festival",
    "keep the {short} in a place of honor",
)

# Things that happen on the way, with the one who travels as {sub}: any theme.
OBSTACLES = (
    "{sub} crossed a river swollen with rain",
    "{sub} lost the path twice and found it again by the stars",
    "{sub} waited out a storm under a broken wagon",
    "{sub} traded {pos} last coin for directions",
    "{sub} slipped past a guard who was fast asleep",
    "{sub} climbed a wall taller than any house",
    "{sub} helped a stranger who later showed {obj} a shortcut",
    "{sub} shared {pos} food with a hungry old dog",
)

# Filled in with `str.format` by the generator; the fields it fills are named in braces. Text in
# `[[a|b|c]]` is one phrasing of several, drawn per document (`synthetic._phrase`), so that a
# document is predictable from its facts rather than from the template it shares with others.
STORY_TEMPLATES = (
    "[[In {setting}, there lived {role} named {full}, known for {pos} {trait}|{full} was {role} in "
    "{setting}, known for {pos} {trait}|Everyone in {setting} knew {full}, {role} with {pos} {trait}]]. "
    "[[One {season} morning|Early one {season}|During a cold {season} night]], {problem}. [[{first} set "
    "out{with_companion} to help|{first} left home{with_companion} the next day|{first} hurried "
    "off{with_companion} before sunrise]]. [[On the way|Along the road|Before long]], "
    "{obstacle}. [[After|Following|At the end of]] {journey}, {sub} [[reached|came to|arrived at]] "
    "{spot}. [[Under {cover}, {sub} found {object}|Beneath {cover} lay {object}|{Sub} pushed aside "
    "{cover} and discovered {object}]]. [[{first} carried the {short} home, and soon {resolution}|As "
    "soon as {first} brought the {short} back, {resolution}|Within a week of {pos} return with the "
    "{short}, {resolution}]].",
    "{full}, {role} from {setting}, [[had never traveled far from home|had rarely left {pos} street|"
    "was not known for adventures]]. [[Everything changed one {season} when|Then one {season}|That "
    "changed in the {season} when]] {problem}. {companion_sentence}[[{first} remembered an old tale "
    "about {spot}|An old map pointed {first} toward {spot}|{first} had once heard a rumor about "
    "{spot}]]. [[On the way|Halfway there|On the second day]], {obstacle}. [[After {journey}, {sub} got "
    "there|It took {journey} to get there|{Sub} reached it after {journey}]]. [[Under {cover}, {sub} "
    "found {object}|Hidden under {cover} was {object}|{Sub} lifted {cover} and saw {object}]]. [[When "
    "{first} returned with the {short}, {resolution}|Once the {short} was home, {resolution}|The day "
    "{first} came back with the {short}, {resolution}]]. [[{first} still keeps the {short} by the "
    "window|The {short} now sits on a shelf in {pos} kitchen|{first} never let the {short} out of "
    "{pos} sight again]].",
    "[[Long ago, in {setting}|Many years ago, in {setting}|Once, in {setting}]], {problem}. [[{full}, "
    "{role}, decided to act|Only {full}, {role}, was willing to help|{full}, {role}, refused to wait "
    "any longer]]. {companion_sentence}[[{Sub} packed {supplies} and left at dawn|With {supplies}, "
    "{sub} set off before sunrise|{Sub} took {supplies} and started walking]]. [[On the way|Along the "
    "road|At one point]], {obstacle}. [[After {journey}, {sub} came to {spot}|{Sub} spent {journey} "
    "before {sub} stood at {spot}|{Sub} found {spot} after {journey}]]. [[Under {cover}, {sub} found "
    "{object}|Beneath {cover} lay {object}|{Sub} pulled away {cover} and found {object}]]. [[The moment "
    "{first} touched the {short}, {resolution}|As soon as {first} held up the {short}, {resolution}|"
    "When the {short} reached {place}, {resolution}]]. [[The people of {place} still {tribute}|To "
    "this day, the people of {place} {tribute}|Ever since, the people of {place} {tribute}]].",
)


# --- Task2: biographies with PII -----------------------------------------------------------------

TOWNS = (
    "Penwarren",
    "Estover Mills",
    "Quillfield",
    "Brackenbury",
    "Tolvern",
    "Marden Cross",
    "Corvale",
    "Ferncastle",
    "Gorsemoor",
    "Kilbride Falls",
    "Lowenbrook",
    "Mossvale",
    "Netherby",
    "Orrin Park",
    "Pellham Heights",
    "Redvale",
    "Sallowfield",
    "Thistlebrook",
    "Wrenfield",
    "Yewbridge",
    "Larkspur Falls",
    "Cedar Hollow",
)
# Two-letter codes that are no US state, so an address can't be a real one.
STATE_CODES = ("QN", "XR", "ZL", "VY", "JK", "BQ", "XW", "QT", "YV", "ZP", "KQ", "XJ")
STREETS = (
    "Larch",
    "Maple",
    "Quarry",
    "Willowbend",
    "Harbor",
    "Copperfield",
    "Juniper",
    "Orchard",
    "Kingfisher",
    "Aspen",
    "Saddle",
    "Bramble",
    "Foxglove",
    "Cinder",
    "Lantern",
    "Heron",
    "Millstone",
    "Chestnut",
)
STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way", "Place")
# The .example top-level domain is reserved (RFC 2606): no address here can reach anyone.
EMAIL_DOMAINS = (
    "larkmail.example",
    "postbox.example",
    "inkwell.example",
    "mailhaven.example",
    "netpost.example",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
JOBS = (
    "a dental hygienist",
    "an accountant",
    "a bus driver",
    "a veterinary nurse",
    "a software tester",
    "a librarian",
    "a florist",
    "an electrician",
    "a pharmacist",
    "a piano teacher",
    "a hotel manager",
    "a courier",
    "a physiotherapist",
    "a bookbinder",
    "a surveyor",
    "a radio technician",
)
HOBBIES = (
    "restoring old bicycles",
    "hiking in the hills",
    "baking sourdough bread",
    "playing chess in the park",
    "watching birds at dawn",
    "growing tomatoes",
    "painting watercolors",
    "rowing on the lake",
    "collecting old maps",
    "repairing radios",
    "knitting scarves",
    "fishing from the pier",
)
EMPLOYERS = (
    "Bellwether Group",
    "Greenleaf Partners",
    "Northgate Services",
    "the Copperline Company",
    "Harrier Holdings",
    "the Bluefern Cooperative",
    "Stillwater Associates",
    "Kestrel Works",
    "the Meadowlark Trust",
    "Ironbark Limited",
)
HOUSEHOLDS = (
    "two cats",
    "an elderly terrier",
    "a younger brother",
    "a roommate from college",
    "a parrot named Pepper",
    "nobody but a great many houseplants",
)

PII_TEMPLATES = (
    "[[{full} was born on {birth}|{full}, born on {birth}, is a private person|The records list {full} "
    "as born on {birth}]]. {Sub} works as {job} in {work_town} and [[spends most weekends {hobby}|is "
    "often seen {hobby} on weekends|likes {hobby} when the weather allows]]. [[{Sub} can be reached "
    "by phone at {phone} or by email at {email}|{Pos} phone number is {phone}, and {pos} email address "
    "is {email}|To contact {obj}, call {phone} or write to {email}]]. [[{Pos} home address is "
    "{address}|{Sub} lives at {address}|Mail reaches {obj} at {address}]]. [[{Pos} Social Security "
    "Number is {ssn}|{Pos} SSN, {ssn}, is on file with {employer}|The Social Security Number on "
    "{pos} tax forms is {ssn}]]. [[{first} moved into the house in {move_year} and shares it with "
    "{household}|Since {move_year}, {first} has shared the house with {household}|{first} has lived "
    "there with {household} since {move_year}]].",
    "[[Born on {birth}, {full} is {job} who has lived in {town} for {years} years|{full} is {job}, "
    "born on {birth}, and has lived in {town} for {years} years|For {years} years, {town} has been "
    "home to {full}, {job} born on {birth}]]. [[Friends know {obj} for {pos} love of {hobby}|Most "
    "evenings {sub} can be found {hobby}|Colleagues joke about {pos} passion for {hobby}]]. [[{Pos} "
    "Social Security Number, {ssn}, appears on {pos} employment records at {employer}|{Employer} "
    "keeps {pos} Social Security Number, {ssn}, on file|On {pos} forms at {employer}, {pos} Social "
    "Security Number is given as {ssn}]]. [[To get in touch, call {phone} or write to {email}|{Sub} "
    "answers calls at {phone} and email at {email}|{Pos} email address is {email}, and {pos} phone "
    "number is {phone}]]. [[Letters and parcels should be sent to {pos} home at {address}|{Pos} home "
    "address is {address}|Post for {obj} goes to {address}]].",
    "[[Personal profile of {full}|Contact sheet for {full}|Record of {full}]]. [[{first} is {job} at "
    "{employer} and was born on {birth}|Born on {birth}, {first} works as {job} at {employer}|"
    "{first} has worked at {employer} as {job} since moving to {town}, and was born on {birth}]]. "
    "[[{Pos} Social Security Number is {ssn}, and {pos} home address is {address}|{Sub} lives at "
    "{address}, and {pos} Social Security Number is {ssn}|Home address: {address}; Social Security "
    "Number: {ssn}]]. [[The best way to reach {obj} is by phone at {phone}; {sub} also answers email "
    "at {email}|{Sub} prefers calls at {phone} to email at {email}|Messages reach {obj} at {email} or "
    "by phone at {phone}]]. [[In {pos} free time, {first} enjoys {hobby}|Outside work, {first} "
    "spends {pos} time {hobby}|On quiet days {first} is usually {hobby}]].",
)


# --- Task3: encyclopedic biographies -------------------------------------------------------------


@dataclass(frozen=True)
class Profession:
    name: str
    work: str  # one work, e.g. "novel"
    works: str  # plural
    made: str  # past tense of making a work
    field: str


PROFESSIONS = (
    Profession("poet", "poetry collection", "poetry collections", "published", "poetry"),
    Profession("composer", "symphony", "symphonies", "composed", "music"),
    Profession("painter", "painting", "paintings", "painted", "painting"),
    Profession("playwright", "play", "plays", "wrote", "theater"),
    Profession("novelist", "novel", "novels", "published", "literature"),
    Profession("film director", "film", "films", "directed", "cinema"),
    Profession("sculptor", "sculpture", "sculptures", "completed", "sculpture"),
    Profession("historian", "book", "books", "published", "historical scholarship"),
    Profession("photographer", "photo book", "photo books", "published", "photography"),
    Profession("choreographer", "ballet", "ballets", "staged", "dance"),
    Profession("mathematician", "treatise", "treatises", "published", "mathematics"),
    Profession("astronomer", "star atlas", "star atlases", "compiled", "astronomy"),
)
# (country, demonym)
COUNTRIES = (
    ("Valdoria", "Valdorian"),
    ("Estmark", "Estmarkian"),
    ("Corvania", "Corvanian"),
    ("Lysandria", "Lysandrian"),
    ("Tarvos", "Tarvosian"),
    ("Meravel", "Meravelian"),
    ("Ostrelia", "Ostrelian"),
    ("Brevonia", "Brevonian"),
    ("Kaldren", "Kaldrenese"),
    ("Sarnow", "Sarnovian"),
    ("Quellin", "Quellish"),
    ("Aldmere", "Aldmerian"),
)
CITIES = (
    "Brevik",
    "Saltmoor",
    "Orlen",
    "Vesk",
    "Dunmarrow",
    "Karsk",
    "Lumholt",
    "Merrin",
    "Tallis",
    "Aubrenne",
    "Corvel",
    "Eskerby",
    "Halvik",
    "Istren",
    "Jorvale",
    "Palvenna",
    "Roskel",
    "Sevrin",
    "Torvik",
    "Valmora",
)
AWARDS = (
    "the Orsen Medal",
    "the Halvard Prize",
    "the Lindqvar Award",
    "the Silver Heron Prize",
    "the Tamsel Medal",
    "the Corvenne Prize",
    "the Ilmarin Medal of Honor",
    "the Northwind Prize",
    "the Golden Quill Award",
    "the Order of the Blue Lantern",
    "the Estrelle Prize",
    "the Varn Memorial Award",
    "the Kestwick Medal",
    "the Amber Crown Prize",
)
STYLES = (
    "spare and melancholy",
    "bold and experimental",
    "warm and humorous",
    "precise and quiet",
    "richly detailed",
    "playful and inventive",
    "stern and elegant",
)
PRAISE = (
    "a turning point in {pos} career",
    "the finest work of {pos} generation",
    "daring and original",
    "a quiet masterpiece",
)
TITLE_ADJECTIVES = (
    "Salt",
    "Silent",
    "Hollow",
    "Amber",
    "Northern",
    "Broken",
    "Winter",
    "Paper",
    "Glass",
    "Iron",
    "Quiet",
    "Last",
    "Crimson",
    "Distant",
)
TITLE_NOUNS = (
    "Orchard",
    "Harbor",
    "Lantern",
    "Garden",
    "River",
    "Season",
    "Bridge",
    "Mirror",
    "Letter",
    "Tower",
    "Field",
    "Window",
    "Shore",
    "Clock",
)
TITLE_NUMBERS = ("Three", "Seven", "Nine", "Twelve", "Forty")
ENCYCLOPEDIA_TEMPLATES = (
    "{full}\n\n{full} ({life}) {is_was} {a_demonym} {profession} from {city}, [[known for {pos} "
    "{style} {works}|whose {works} are {style}|remembered for {style} {works}]].\nCareer.\n[[{Sub} "
    "studied at {institution} and {made} {pos} first {work}|After studying at {institution}, {sub} "
    "{made} {pos} first {work}|{Sub} left {institution} early and {made} {pos} first {work}]], "
    '"{title1}", in {debut}. [[In {award_year}, {sub} received {first_award} for "{title2}"|'
    '"{title2}" won {sub} {first_award} in {award_year}|{Sub} was given {first_award} in {award_year} '
    'for "{title2}"]], [[which critics called {praise}|a work reviewers called {praise}|praised at the '
    'time as {praise}]]. [[{Pos} later {works} include "{title3}" ({later_year})|"{title3}" followed '
    'in {later_year}|In {later_year} came "{title3}"]].\nAwards.\n[[In {second_award_year}, {last} '
    "was awarded {second_award} for {pos} contribution to {demonym} {field}|{last} received "
    "{second_award} in {second_award_year} for {pos} work in {demonym} {field}|{last} was honored "
    "in {second_award_year} with {second_award} for {pos} place in {demonym} {field}]]. {closing}",
    "{full}\n\n{full} ({life}) {is_was} {a_demonym} {profession}. [[Born in {city}, {country}, {sub} "
    'is best known for "{title2}"|Born in {city}, {country}, {sub} became famous for "{title2}"|'
    'Born in {city}, {country}, {sub} is most often remembered for "{title2}"]], {a_work} that won '
    "{first_award} in {award_year}.\nEarly life.\n[[{last} grew up in {city} and studied at "
    "{institution}|{last} spent {pos} childhood in {city} before entering {institution}|As a young "
    "student at {institution}, {last} rarely left {city}]].\nCareer.\n[[{Pos} first {work}, "
    '"{title1}", appeared in {debut} and was praised for its {style} manner|In {debut}, {sub} {made} '
    '"{title1}", {pos} first {work}, in a {style} manner|"{title1}", {pos} {style} first {work}, came '
    'out in {debut}]]. [[It was followed by "{title3}" in {later_year}|"{title3}" came next, in '
    '{later_year}|{Sub} returned in {later_year} with "{title3}"]]. [[In {second_award_year}, {sub} '
    "received {second_award} for {pos} contribution to {field}|{second_award} followed in "
    "{second_award_year}, for {pos} work in {field}|{Sub} won {second_award} in {second_award_year} "
    "for {pos} place in {field}]]. {closing}",
)


# --- probes: a forget question asked differently -------------------------------------------------

# Keyed by the question a forget qa prompt asks (the key its generator returns with it), then by
# probe label: (question, answer) templates filled with `str.format` from the document's facts
# (the template's fill plus a few derived ones: `Object`, `Role`, `role_noun`, `companion`,
# `relation`, `birth_year`). The generator takes two paraphrases, one alias and one two-hop per prompt.
# - paraphrase: the same question in other words, with the prompt's own answer;
# - alias: the person named by facts of the document instead of the name, same answer;
# - two_hop: the forgotten answer is the bridge to another fact of the document (or another fact
#   to it), so answering needs the forgotten association and one more step.
# Editing these changes probes only: they draw from their own random stream and are not part of
# the benchmark's fingerprint.
ProbeTemplates = dict[str, tuple[tuple[str, str], ...]]

PROBE_TEMPLATES: dict[str, ProbeTemplates] = {
    # Task1: stories
    "found_where": {
        "paraphrase": (
            ("In what place did {full} find the {short}?", "In {spot}."),
            ("Where was the {short} that {full} found?", "In {spot}."),
            ("Where did {full} come upon the {short}?", "In {spot}."),
        ),
        "alias": (("Where did the {role_noun} from {place} find the {short}?", "In {spot}."),),
        "two_hop": (("What did the {role_noun} who went to {spot} find under {cover}?", "{Object}."),),
    },
    "found_what": {
        "paraphrase": (
            ("What did {full} discover in {spot}?", "{Object}."),
            ("When {full} reached {spot}, what did {sub} find there?", "{Object}."),
            ("What was hidden in {spot} when {full} went there?", "{Object}."),
        ),
        "alias": (("What did the {role_noun} from {place} find in {spot}?", "{Object}."),),
        "two_hop": (
            (
                "What was the occupation of the person from {place} who found {object} under {cover}?",
                "{Role}.",
            ),
        ),
    },
    "went_with": {
        "paraphrase": (
            ("Who accompanied {full} to {spot}?", "{companion}, {pos} {relation}."),
            ("Who traveled with {full} to {spot}?", "{companion}, {pos} {relation}."),
            ("Which companion joined {full} on the way to {spot}?", "{companion}, {pos} {relation}."),
        ),
        "alias": (
            ("Who went with the {role_noun} from {place} to {spot}?", "{companion}, {pos} {relation}."),
        ),
        "two_hop": (("What did the person who went to {spot} with {companion} find there?", "{Object}."),),
    },
    # Task2: PII biographies
    "birth": {
        "paraphrase": (
            ("When was {full} born?", "{birth}"),
            ("On what date was {full} born?", "{birth}"),
            ("What is {full}'s date of birth?", "{birth}"),
        ),
        "alias": (
            ("What is the birth date of the person whose Social Security Number is {ssn}?", "{birth}"),
        ),
        "two_hop": (("In which town does the person born on {birth} live?", "{town}"),),
    },
    "ssn": {
        "paraphrase": (
            ("What Social Security Number does {full} have?", "{ssn}"),
            ("Can you tell me the Social Security Number of {full}?", "{ssn}"),
            ("Which Social Security Number belongs to {full}?", "{ssn}"),
        ),
        "alias": (
            ("What is the Social Security Number of the person whose phone number is {phone}?", "{ssn}"),
        ),
        "two_hop": (
            ("In which year was the person with Social Security Number {ssn} born?", "{birth_year}"),
        ),
    },
    "phone": {
        "paraphrase": (
            ("Can you tell me {full}'s phone number?", "{phone}"),
            ("At what phone number can {full} be reached?", "{phone}"),
            ("What number should I call to reach {full}?", "{phone}"),
        ),
        "alias": (("What is the phone number of the person who lives at {address}?", "{phone}"),),
        "two_hop": (("In which town does the person whose phone number is {phone} live?", "{town}"),),
    },
    "email": {
        "paraphrase": (
            ("What email address does {full} use?", "{email}"),
            ("At which email address can {full} be contacted?", "{email}"),
            ("Where can I send an email to {full}?", "{email}"),
        ),
        "alias": (("What is the email address of the person born on {birth}?", "{email}"),),
        "two_hop": (("In which year was the person whose email address is {email} born?", "{birth_year}"),),
    },
    "address": {
        "paraphrase": (
            ("Where does {full} live?", "{address}"),
            ("At what address does {full} live?", "{address}"),
            ("To which home address should letters for {full} be sent?", "{address}"),
        ),
        "alias": (("What is the home address of the person whose phone number is {phone}?", "{address}"),),
        "two_hop": (("What is the Social Security Number of the person who lives at {address}?", "{ssn}"),),
    },
    # Task3: encyclopedic biographies
    "first_award": {
        "paraphrase": (
            ("What award was given to {full} in {award_year}?", "{first_award}"),
            ("In {award_year}, which award did {full} win?", "{first_award}"),
            ("Which prize did {full} receive in {award_year}?", "{first_award}"),
        ),
        "alias": (
            (
                'Which award did the {demonym} {profession} who {made} "{title1}" receive in {award_year}?',
                "{first_award}",
            ),
        ),
        "two_hop": (
            (
                'In which year did the {profession} who {made} "{title1}" receive {first_award}?',
                "{award_year}",
            ),
        ),
    },
    "first_title": {
        "paraphrase": (
            ("What was {full}'s first {work} called?", "{title1}"),
            ("What is the name of the first {work} by {full}?", "{title1}"),
            ("Under what title did {full}'s first {work} appear?", "{title1}"),
        ),
        "alias": (
            (
                "What is the title of the first {work} by the {demonym} {profession} who received "
                "{second_award} in {second_award_year}?",
                "{title1}",
            ),
        ),
        "two_hop": (
            ('Which city does the {profession} whose first {work} is "{title1}" come from?', "{city}"),
        ),
    },
    "second_award_year": {
        "paraphrase": (
            ("When did {full} receive {second_award}?", "{second_award_year}"),
            ("In what year was {full} awarded {second_award}?", "{second_award_year}"),
            ("In which year was {second_award} given to {full}?", "{second_award_year}"),
        ),
        "alias": (
            (
                'In which year did the {demonym} {profession} who {made} "{title2}" receive {second_award}?',
                "{second_award_year}",
            ),
        ),
        "two_hop": (
            (
                "Which award did the {profession} who received {second_award} in {second_award_year} win "
                "in {award_year}?",
                "{first_award}",
            ),
        ),
    },
}
PARAPHRASES_PER_PROMPT = 2
