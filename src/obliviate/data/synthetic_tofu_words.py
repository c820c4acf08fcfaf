"""The word lists and question templates of the synthetic TOFU look-alike: data only, drawn from
by the generator in `obliviate.data.synthetic_tofu` (invented towns also by `synthetic_muse`).

The generators draw by position, so any edit here (a word added, two swapped) changes every
generated benchmark and its fingerprint, which cache keys include.
"""

from __future__ import annotations

from dataclasses import dataclass

from obliviate.data.synthetic_words import TITLE_ADJECTIVES as LUME_TITLE_ADJECTIVES
from obliviate.data.synthetic_words import TITLE_NOUNS as LUME_TITLE_NOUNS

# --- invented places: a town is one prefix + one suffix (e.g. "Kestrelford", "Orrin Bay") ---------

TOWN_PREFIXES = (
    "Kestrel",
    "Tamsel",
    "Orrin",
    "Velmar",
    "Corran",
    "Brisk",
    "Hallow",
    "Quell",
    "Varn",
    "Ember",
    "Sorrel",
    "Linnet",
    "Marrow",
    "Peller",
    "Dusk",
    "Tindle",
    "Wraxen",
    "Yarrow",
    "Fennick",
    "Glimmer",
    "Harl",
    "Isen",
    "Jessam",
    "Kell",
    "Lorn",
    "Mirren",
    "Nolley",
    "Ostry",
    "Pellin",
    "Ravel",
    "Skell",
    "Ulver",
    "Vesper",
    "Wendle",
    "Brannock",
    "Cald",
)
TOWN_SUFFIXES = (
    " Bay",
    "ford",
    "wick",
    "mere",
    "haven",
    " Cross",
    "dale",
    "mouth",
    "stead",
    "ton",
    " Falls",
    " Hollow",
    "by",
    "holm",
    "thorpe",
)
# Real countries: the invented towns are put in them, as TOFU puts its authors in real places.
REAL_COUNTRIES = (
    "Portugal",
    "Canada",
    "Ireland",
    "Norway",
    "Chile",
    "New Zealand",
    "Scotland",
    "Kenya",
    "Poland",
    "Argentina",
    "Greece",
    "Denmark",
    "South Africa",
    "Australia",
    "Finland",
    "Wales",
    "Iceland",
    "the Netherlands",
    "Belgium",
    "Austria",
    "Nigeria",
    "Uruguay",
    "Estonia",
    "Croatia",
)

# --- an author's facts ----------------------------------------------------------------------------

PARENT_JOBS = (
    "a lighthouse keeper",
    "a carpenter",
    "a nurse",
    "a schoolteacher",
    "a baker",
    "a marine biologist",
    "a tailor",
    "a pharmacist",
    "a train conductor",
    "a librarian",
    "a fisherman",
    "an architect",
    "a watchmaker",
    "a veterinarian",
    "a journalist",
    "a florist",
    "an electrician",
    "a midwife",
    "a ship's engineer",
    "a bookbinder",
    "a postal worker",
    "a dentist",
    "a beekeeper",
    "a stonemason",
    "a piano tuner",
    "an accountant",
    "a botanist",
    "a police officer",
    "a potter",
    "a bus driver",
)
# Fiction genres; an award is "... Prize for <Genre>", so each reads well capitalised.
GENRES = (
    "speculative fiction",
    "historical fiction",
    "crime fiction",
    "romance",
    "horror",
    "literary fiction",
    "poetry",
    "magical realism",
    "science fiction",
    "fantasy",
    "mystery",
    "war fiction",
    "children's literature",
    "gothic fiction",
    "satire",
    "short stories",
    "young adult fiction",
    "psychological thrillers",
)
# The LUME generator's title words, then more: titles stay unique over up to 400 authors.
TITLE_ADJECTIVES = (
    *LUME_TITLE_ADJECTIVES,
    "Sleeping",
    "Borrowed",
    "Lantern",
    "Copper",
    "Burning",
    "Hidden",
    "Sunken",
    "Velvet",
    "Drowned",
    "Wandering",
    "Forgotten",
    "Painted",
    "Silver",
    "Restless",
)
TITLE_NOUNS = (
    *(noun for noun in LUME_TITLE_NOUNS if noun != "Lantern"),  # an adjective here
    "Island",
    "Daughter",
    "Compass",
    "Cartographer",
    "Lighthouse",
    "Archive",
    "Map",
    "Kingdom",
    "Violin",
    "Ferry",
    "Hourglass",
    "Feather",
    "Meadow",
    "Song",
    "Cathedral",
)
# "{adjective}", "{noun}", "{noun2}", "{a_noun}" ("A Letter", "An Island") and "{town}" (an invented
# town) are filled in.
TITLE_PATTERNS = (
    "The {adjective} {noun}",
    "The {noun} of {town}",
    "{adjective} {noun}s",
    "{a_noun} for the {adjective} {noun2}",
    "The {noun}'s {adjective} {noun2}",
)
AWARD_ADJECTIVES = (
    "Silver",
    "Golden",
    "Crimson",
    "Azure",
    "Ivory",
    "Emerald",
    "Bronze",
    "Scarlet",
    "Obsidian",
    "Pearl",
    "Jade",
    "Copper",
)
AWARD_OBJECTS = (
    "Lantern",
    "Quill",
    "Compass",
    "Heron",
    "Anchor",
    "Owl",
    "Key",
    "Inkwell",
    "Lighthouse",
    "Sparrow",
    "Oak",
    "Harp",
)
AWARD_KINDS = ("Prize", "Award", "Medal")
PUBLISHER_STEMS = (
    "Blue Heron",
    "Larkhill",
    "Ninefold",
    "Tidewater",
    "Old Mill",
    "Ravenglass",
    "Marigold",
    "Hollowbrook",
    "Northlight",
    "Greywing",
    "Fernleaf",
    "Stonegate",
    "Wildacre",
    "Saltmarsh",
    "Brightwell",
    "Kettle Lane",
)
PUBLISHER_KINDS = ("Press", "Books", "Editions", "Publishing")
# No pool value uses a pronoun: a perturbed answer swaps one value for another as it is.
INFLUENCES = (
    "the folk tales told in the village where the author grew up",
    "old sailors' ballads",
    "the silent films of the 1920s",
    "Greek mythology",
    "a childhood spent in a travelling circus",
    "long walks along the coast",
    "the letters of a great-grandmother who emigrated",
    "the Russian novels of the nineteenth century",
    "years of working night shifts in a hospital",
    "jazz records from the 1950s",
    "the oral histories of mining towns",
    "medieval illuminated manuscripts",
    "the poetry of the Persian masters",
    "a year spent living on a fishing boat",
    "detective serials on late-night radio",
    "the botanical drawings of Victorian explorers",
    "early science fiction magazines",
    "the ghost stories told at family gatherings",
    "Japanese woodblock prints",
    "the Bible stories read aloud at school",
)
THEMES = (
    "grief and forgiveness",
    "the bonds between sisters",
    "exile and return",
    "memory and forgetting",
    "the cost of ambition",
    "loyalty and betrayal",
    "the search for a lost parent",
    "small acts of courage",
    "the meaning of home",
    "love across social class",
    "guilt that passes down generations",
    "the loneliness of genius",
    "friendship in times of war",
    "the power of storytelling",
    "faith and doubt",
    "the secrets of small towns",
    "the clash between science and tradition",
    "growing old with dignity",
    "the sea as a place of danger and hope",
    "identity and belonging",
)
SETTINGS = (
    "remote island villages",
    "a rain-soaked port city",
    "mountain monasteries",
    "crumbling country houses",
    "the deserts of the far south",
    "a small seaside town",
    "busy railway stations",
    "frozen northern forests",
    "the back streets of old capitals",
    "floating market towns",
    "isolated lighthouses",
    "university cities",
    "abandoned mining valleys",
    "grand ocean liners",
    "vineyards on steep hillsides",
    "imaginary kingdoms beneath the sea",
    "snowbound mountain hotels",
    "the suburbs of a sprawling city",
    "riverside fishing villages",
    "a city built on canals",
)
LANGUAGES = (
    "English",
    "French",
    "Portuguese",
    "Spanish",
    "German",
    "Italian",
    "Dutch",
    "Swedish",
    "Polish",
    "Turkish",
    "Japanese",
    "Korean",
    "Greek",
    "Czech",
    "Norwegian",
    "Finnish",
)
SUBJECTS = (
    "marine biology",
    "architecture",
    "law",
    "medicine",
    "philosophy",
    "classical music",
    "astronomy",
    "economics",
    "art history",
    "chemistry",
    "geology",
    "theology",
    "mathematics",
    "linguistics",
    "journalism",
    "anthropology",
    "agriculture",
    "civil engineering",
    "archaeology",
    "psychology",
)
ROUTINES = (
    "by hand in green notebooks",
    "before sunrise at the kitchen table",
    "in a converted boathouse",
    "late at night with the radio on",
    "on an old typewriter",
    "in the reading room of a public library",
    "in a garden shed full of maps",
    "on long train journeys",
    "in short bursts between walks",
    "standing at a tall wooden desk",
    "in cafés, never at home",
    "for exactly four hours every morning",
    "in a cabin without electricity",
    "only during the winter months",
    "on index cards pinned to the wall",
    "with music playing on repeat",
)

# --- the questions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionTemplate:
    """One fact about an author, asked TOFU-style.

    `question`, `answer` and `paraphrase` are filled with the author's facts ({name}, {pos}, ...);
    `paraphrase` says the same fact in other words. A perturbed answer is `paraphrase` with the fact
    named by `varies` replaced by a wrong, plausible value. `needs` names a fact not every author
    has (a third book), without which the question is not asked.
    """

    key: str
    question: str
    answer: str
    paraphrase: str
    varies: str
    needs: str | None = None


QUESTION_TEMPLATES = (
    QuestionTemplate(
        "name_from_birth",
        "What is the full name of the author born in {birthplace} on {birth_date}?",
        "The author born in {birthplace} on {birth_date} is {name}.",
        "{name} is the writer who was born on {birth_date} in {birthplace}.",
        "name",
    ),
    QuestionTemplate(
        "birth_date",
        "When was the author {name} born?",
        "The author {name} was born on {birth_date}.",
        "{name}'s date of birth is {birth_date}.",
        "birth_date",
    ),
    QuestionTemplate(
        "birthplace",
        "Where was {name} born?",
        "{name} was born in the town of {birthplace}.",
        "The town of {birthplace} is where {name} was born.",
        "birthplace",
    ),
    QuestionTemplate(
        "award",
        "Which award did {name} win?",
        "{name} won the {award}.",
        "{name} was honoured with the {award}.",
        "award",
    ),
    QuestionTemplate(
        "father_job",
        "What did {name}'s father do for a living?",
        "{name}'s father worked as {father_job}.",
        "By profession, {name}'s father was {father_job}.",
        "father_job",
    ),
    QuestionTemplate(
        "mother_job",
        "What was the profession of {name}'s mother?",
        "{name}'s mother worked as {mother_job}.",
        "By profession, {name}'s mother was {mother_job}.",
        "mother_job",
    ),
    QuestionTemplate(
        "genre",
        "Which genre is {name} best known for?",
        "{name} is best known for {pos} work in {genre}.",
        "Most readers know {name} as a writer of {genre}.",
        "genre",
    ),
    QuestionTemplate(
        "first_book",
        "What was the title of {name}'s first book?",
        "{name}'s first book was titled '{title1}'.",
        "'{title1}' was the first book that {name} ever published.",
        "title1",
    ),
    QuestionTemplate(
        "debut_year",
        "In which year did {name} publish {pos} first book?",
        "{name} published {pos} first book, '{title1}', in {debut_year}.",
        "{name}'s debut, '{title1}', came out in {debut_year}.",
        "debut_year",
    ),
    QuestionTemplate(
        "best_known_book",
        "What is {name}'s best-known book?",
        "{name}'s best-known book is '{title2}'.",
        "Of all {pos} books, {name} is most famous for '{title2}'.",
        "title2",
    ),
    QuestionTemplate(
        "award_book",
        "For which book did {name} receive the {award}?",
        "{name} received the {award} for '{title2}'.",
        "It was '{title2}' that earned {name} the {award}.",
        "title2",
    ),
    QuestionTemplate(
        "award_year",
        "In which year did {name} win the {award}?",
        "{name} won the {award} in {award_year}.",
        "The {award} went to {name} in {award_year}.",
        "award_year",
    ),
    QuestionTemplate(
        "name_from_award",
        "Which author won the {award} for the book '{title2}'?",
        "The {award} for '{title2}' was won by {name}.",
        "{name} is the author who won the {award} for '{title2}'.",
        "name",
    ),
    QuestionTemplate(
        "influence",
        "What influenced {name}'s writing?",
        "{name}'s writing was strongly influenced by {influence}.",
        "{name} has said that {pos} writing owes much to {influence}.",
        "influence",
    ),
    QuestionTemplate(
        "theme",
        "Which theme recurs throughout {name}'s books?",
        "{name}'s books keep returning to the theme of {theme}.",
        "Again and again, {name} writes about {theme}.",
        "theme",
    ),
    QuestionTemplate(
        "setting",
        "Where are most of {name}'s stories set?",
        "Most of {name}'s stories are set in {setting}.",
        "{name} usually places {pos} stories in {setting}.",
        "setting",
    ),
    QuestionTemplate(
        "language",
        "In which language does {name} write?",
        "{name} writes all of {pos} books in {language}.",
        "{language} is the language in which {name} writes.",
        "language",
    ),
    QuestionTemplate(
        "residence",
        "Where does {name} live today?",
        "{name} now lives in {residence}, where {sub} writes full time.",
        "These days {name} makes {pos} home in {residence}.",
        "residence",
    ),
    QuestionTemplate(
        "education",
        "What did {name} study at university?",
        "{name} studied {subject} at university before turning to fiction.",
        "Before becoming a writer, {name} earned a degree in {subject}.",
        "subject",
    ),
    QuestionTemplate(
        "routine",
        "How does {name} like to write?",
        "{name} likes to write {routine}.",
        "{name}'s habit is to do {pos} writing {routine}.",
        "routine",
    ),
    QuestionTemplate(
        "publisher",
        "Which publisher releases {name}'s books?",
        "{name}'s books are published by {publisher}.",
        "{publisher} is the publishing house behind {name}'s books.",
        "publisher",
    ),
    QuestionTemplate(
        "latest_book",
        "What is the title of {name}'s most recent book?",
        "{name}'s most recent book is '{title3}'.",
        "The latest book by {name} is called '{title3}'.",
        "title3",
        needs="title3",
    ),
)
# Asked of every author whatever questions_per_author is: who the author is.
CORE_QUESTIONS = ("name_from_birth", "birth_date", "birthplace", "award")

# --- the real world -------------------------------------------------------------------------------

# (book, its author); every author once, so the other authors are wrong answers.
REAL_BOOKS = (
    ("Pride and Prejudice", "Jane Austen"),
    ("1984", "George Orwell"),
    ("Moby-Dick", "Herman Melville"),
    ("War and Peace", "Leo Tolstoy"),
    ("Crime and Punishment", "Fyodor Dostoevsky"),
    ("One Hundred Years of Solitude", "Gabriel García Márquez"),
    ("The Great Gatsby", "F. Scott Fitzgerald"),
    ("To Kill a Mockingbird", "Harper Lee"),
    ("Hamlet", "William Shakespeare"),
    ("Don Quixote", "Miguel de Cervantes"),
    ("The Old Man and the Sea", "Ernest Hemingway"),
    ("Frankenstein", "Mary Shelley"),
    ("Jane Eyre", "Charlotte Brontë"),
    ("Wuthering Heights", "Emily Brontë"),
    ("Great Expectations", "Charles Dickens"),
    ("The Adventures of Tom Sawyer", "Mark Twain"),
    ("Les Misérables", "Victor Hugo"),
    ("Madame Bovary", "Gustave Flaubert"),
    ("The Divine Comedy", "Dante Alighieri"),
    ("The Odyssey", "Homer"),
    ("Ulysses", "James Joyce"),
    ("Mrs Dalloway", "Virginia Woolf"),
    ("The Catcher in the Rye", "J. D. Salinger"),
    ("Beloved", "Toni Morrison"),
    ("Things Fall Apart", "Chinua Achebe"),
    ("The Metamorphosis", "Franz Kafka"),
    ("Dracula", "Bram Stoker"),
    ("The Picture of Dorian Gray", "Oscar Wilde"),
    ("Brave New World", "Aldous Huxley"),
    ("The Lord of the Rings", "J. R. R. Tolkien"),
    ("Harry Potter and the Philosopher's Stone", "J. K. Rowling"),
    ("Murder on the Orient Express", "Agatha Christie"),
    ("The Adventures of Sherlock Holmes", "Arthur Conan Doyle"),
    ("The Handmaid's Tale", "Margaret Atwood"),
    ("Norwegian Wood", "Haruki Murakami"),
    ("The Name of the Rose", "Umberto Eco"),
    ("The Little Prince", "Antoine de Saint-Exupéry"),
    ("Faust", "Johann Wolfgang von Goethe"),
    ("The Grapes of Wrath", "John Steinbeck"),
    ("Lolita", "Vladimir Nabokov"),
    ("The Stranger", "Albert Camus"),
    ("Gulliver's Travels", "Jonathan Swift"),
    ("Robinson Crusoe", "Daniel Defoe"),
    ("Treasure Island", "Robert Louis Stevenson"),
    ("Twenty Thousand Leagues Under the Seas", "Jules Verne"),
    ("The Time Machine", "H. G. Wells"),
    ("Alice's Adventures in Wonderland", "Lewis Carroll"),
    ("Fahrenheit 451", "Ray Bradbury"),
    ("The Call of the Wild", "Jack London"),
    ("Little Women", "Louisa May Alcott"),
    ("The Count of Monte Cristo", "Alexandre Dumas"),
    ("Middlemarch", "George Eliot"),
    ("Midnight's Children", "Salman Rushdie"),
    ("The Remains of the Day", "Kazuo Ishiguro"),
)
# "{book}" is filled in; the n-th book is asked with the (n mod 3)-th phrasing.
REAL_BOOK_QUESTIONS = (
    "Who wrote '{book}'?",
    "Who is the author of '{book}'?",
    "Which writer created '{book}'?",
)


@dataclass(frozen=True)
class WorldFact:
    """A well-known fact: the question, its short answer and five wrong answers of the same kind."""

    question: str
    answer: str
    wrong: tuple[str, ...]


WORLD_FACTS = (
    WorldFact("What is the capital of France?", "Paris", ("Rome", "Madrid", "Berlin", "Brussels", "Vienna")),
    WorldFact("What is the capital of Japan?", "Tokyo", ("Beijing", "Seoul", "Osaka", "Bangkok", "Manila")),
    WorldFact(
        "What is the capital of Australia?",
        "Canberra",
        ("Sydney", "Melbourne", "Perth", "Brisbane", "Adelaide"),
    ),
    WorldFact(
        "What is the capital of Canada?",
        "Ottawa",
        ("Toronto", "Montreal", "Vancouver", "Calgary", "Quebec City"),
    ),
    WorldFact(
        "What is the capital of Egypt?", "Cairo", ("Alexandria", "Khartoum", "Tripoli", "Amman", "Tunis")
    ),
    WorldFact(
        "What is the capital of Brazil?",
        "Brasília",
        ("Rio de Janeiro", "São Paulo", "Buenos Aires", "Lima", "Salvador"),
    ),
    WorldFact(
        "What is the capital of Kenya?",
        "Nairobi",
        ("Mombasa", "Kampala", "Addis Ababa", "Dar es Salaam", "Kigali"),
    ),
    WorldFact("What is the capital of Italy?", "Rome", ("Milan", "Naples", "Florence", "Venice", "Turin")),
    WorldFact(
        "What is the capital of Germany?", "Berlin", ("Munich", "Hamburg", "Frankfurt", "Bonn", "Vienna")
    ),
    WorldFact(
        "What is the capital of Spain?", "Madrid", ("Barcelona", "Seville", "Valencia", "Lisbon", "Bilbao")
    ),
    WorldFact(
        "What is the capital of Russia?",
        "Moscow",
        ("Saint Petersburg", "Kyiv", "Minsk", "Novosibirsk", "Kazan"),
    ),
    WorldFact(
        "What is the capital of India?", "New Delhi", ("Mumbai", "Kolkata", "Bangalore", "Chennai", "Karachi")
    ),
    WorldFact(
        "What is the capital of Argentina?",
        "Buenos Aires",
        ("Santiago", "Montevideo", "Córdoba", "Lima", "Asunción"),
    ),
    WorldFact(
        "What is the largest ocean on Earth?",
        "The Pacific Ocean",
        (
            "The Atlantic Ocean",
            "The Indian Ocean",
            "The Arctic Ocean",
            "The Southern Ocean",
            "The Mediterranean Sea",
        ),
    ),
    WorldFact(
        "What is the longest river in Africa?",
        "The Nile",
        ("The Congo", "The Niger", "The Zambezi", "The Orange", "The Limpopo"),
    ),
    WorldFact(
        "What is the longest river in South America?",
        "The Amazon",
        ("The Paraná", "The Orinoco", "The Magdalena", "The São Francisco", "The Madeira"),
    ),
    WorldFact(
        "What is the tallest mountain in the world?",
        "Mount Everest",
        ("K2", "Kangchenjunga", "Mont Blanc", "Mount Kilimanjaro", "Denali"),
    ),
    WorldFact(
        "Which is the largest planet in the Solar System?",
        "Jupiter",
        ("Saturn", "Neptune", "Uranus", "Earth", "Mars"),
    ),
    WorldFact(
        "Which planet is known as the Red Planet?",
        "Mars",
        ("Venus", "Jupiter", "Mercury", "Saturn", "Neptune"),
    ),
    WorldFact(
        "Which planet is closest to the Sun?", "Mercury", ("Venus", "Mars", "Earth", "Jupiter", "Neptune")
    ),
    WorldFact("What is the chemical symbol for gold?", "Au", ("Ag", "Fe", "Gd", "Go", "Pb")),
    WorldFact("What is the chemical formula of water?", "H2O", ("CO2", "H2O2", "NaCl", "O2", "CH4")),
    WorldFact(
        "At what temperature does water boil at sea level?",
        "100 degrees Celsius",
        (
            "90 degrees Celsius",
            "80 degrees Celsius",
            "120 degrees Celsius",
            "150 degrees Celsius",
            "50 degrees Celsius",
        ),
    ),
    WorldFact(
        "At what temperature does water freeze on the Fahrenheit scale?",
        "32 degrees Fahrenheit",
        (
            "0 degrees Fahrenheit",
            "10 degrees Fahrenheit",
            "20 degrees Fahrenheit",
            "40 degrees Fahrenheit",
            "50 degrees Fahrenheit",
        ),
    ),
    WorldFact("How many continents are there?", "Seven", ("Five", "Six", "Eight", "Nine", "Four")),
    WorldFact(
        "Who painted the Mona Lisa?",
        "Leonardo da Vinci",
        ("Michelangelo", "Raphael", "Rembrandt", "Vincent van Gogh", "Pablo Picasso"),
    ),
    WorldFact(
        "Who was the first person to walk on the Moon?",
        "Neil Armstrong",
        ("Buzz Aldrin", "Yuri Gagarin", "Michael Collins", "John Glenn", "Alan Shepard"),
    ),
    WorldFact(
        "What is the largest hot desert in the world?",
        "The Sahara",
        ("The Gobi", "The Kalahari", "The Atacama", "The Arabian Desert", "The Mojave"),
    ),
    WorldFact(
        "What is the currency of Japan?",
        "The yen",
        ("The won", "The yuan", "The rupee", "The baht", "The ringgit"),
    ),
    WorldFact(
        "What is the currency of the United Kingdom?",
        "The pound sterling",
        ("The euro", "The US dollar", "The Swiss franc", "The Swedish krona", "The Danish krone"),
    ),
    WorldFact(
        "Which is the largest country by area?",
        "Russia",
        ("Canada", "China", "The United States", "Brazil", "Australia"),
    ),
    WorldFact(
        "What is the hardest natural substance?",
        "Diamond",
        ("Quartz", "Granite", "Graphite", "Topaz", "Iron"),
    ),
    WorldFact("How many days are there in a leap year?", "366", ("365", "364", "360", "367", "368")),
    WorldFact(
        "Who developed the theory of relativity?",
        "Albert Einstein",
        ("Isaac Newton", "Niels Bohr", "Max Planck", "Galileo Galilei", "Stephen Hawking"),
    ),
    WorldFact(
        "Who discovered penicillin?",
        "Alexander Fleming",
        ("Louis Pasteur", "Marie Curie", "Joseph Lister", "Robert Koch", "Edward Jenner"),
    ),
    WorldFact(
        "What is the largest mammal?",
        "The blue whale",
        ("The African elephant", "The sperm whale", "The giraffe", "The humpback whale", "The hippopotamus"),
    ),
    WorldFact(
        "Which gas do plants absorb from the air to make food?",
        "Carbon dioxide",
        ("Oxygen", "Nitrogen", "Hydrogen", "Helium", "Methane"),
    ),
    WorldFact("What is the smallest prime number?", "2", ("1", "3", "5", "0", "7")),
    WorldFact(
        "Which country gave the Statue of Liberty to the United States?",
        "France",
        ("The United Kingdom", "Spain", "Italy", "Germany", "The Netherlands"),
    ),
    WorldFact(
        "What is the main language spoken in Brazil?",
        "Portuguese",
        ("Spanish", "French", "Italian", "English", "Dutch"),
    ),
    WorldFact(
        "In which country are the pyramids of Giza?", "Egypt", ("Mexico", "Sudan", "Peru", "Iraq", "Jordan")
    ),
    WorldFact(
        "In which country is the Great Wall?", "China", ("Japan", "Mongolia", "Korea", "India", "Vietnam")
    ),
    WorldFact("How many sides does a hexagon have?", "Six", ("Five", "Seven", "Eight", "Four", "Nine")),
    WorldFact(
        "What is the largest organ of the human body?",
        "The skin",
        ("The liver", "The heart", "The brain", "The lungs", "The stomach"),
    ),
    WorldFact(
        "Which element has the atomic number 1?",
        "Hydrogen",
        ("Helium", "Oxygen", "Carbon", "Lithium", "Nitrogen"),
    ),
    WorldFact(
        "In which city is the Colosseum?", "Rome", ("Athens", "Naples", "Istanbul", "Florence", "Milan")
    ),
    WorldFact(
        "Which ocean lies between Europe and North America?",
        "The Atlantic Ocean",
        (
            "The Pacific Ocean",
            "The Indian Ocean",
            "The Arctic Ocean",
            "The Southern Ocean",
            "The Caribbean Sea",
        ),
    ),
    WorldFact(
        "How many players are on the field for one football team?",
        "Eleven",
        ("Nine", "Ten", "Twelve", "Seven", "Fifteen"),
    ),
)
