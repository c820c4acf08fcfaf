"""The word lists and article templates of the synthetic MUSE-News look-alike: data only, drawn
from by the generator in `obliviate.data.synthetic_muse`.

An article template is its headline and paragraphs; "{field}" slots are filled by the topic's
writer in `synthetic_muse.py`. A person in role `r` fills `{r}` (full name), `{r_last}`,
`{r_sub}`, `{r_Sub}`, `{r_pos}` and `{r_noun}` ("woman" or "man"). A topic's questions name the
field that answers them, and every template of the topic states that field.

The generator draws by position, so any edit here (a word added, two swapped) changes every
generated benchmark and its fingerprint, which cache keys include.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A kind of news story: its templates (headline, then paragraphs) and the questions it answers,
    each `(question template, answering field)`."""

    name: str
    templates: tuple[tuple[str, ...], ...]
    questions: tuple[tuple[str, str], ...]


POLITICS = Topic(
    "politics",
    (
        (
            "Councillors in {town} back {project_short} plan after heated debate",
            "Councillors in {town} have voted {votes_for} to {votes_against} in favour of {project}, ending "
            "months of argument over the future of the town centre. The scheme, which is expected to cost "
            "{cost}, was first proposed by council leader {leader} in {month_proposed} last year.",
            "Supporters say it will bring visitors back to the area, but opponents warned that {concern}. "
            '"This is the most important decision this council has made in a generation," {leader_last} told '
            "the meeting on {weekday} evening.",
            "Councillor {opponent}, who led the campaign against the plan, said residents had not been "
            'listened to. "More than {signatures} people signed our petition, and their voices were simply '
            'ignored," {opponent_last} said.',
            "Work is due to begin in {start_month} and should take about {duration} months. The council said "
            "{share} of the money would come from a government grant. Local shop owner {resident} said "
            "{resident_sub} hoped the {project_short} would {hope}.",
        ),
        (
            "{town} {project_short} approved despite protests",
            "A controversial plan to build {project} in {town} has been approved, despite a petition signed "
            "by {signatures} residents. Members of the town council voted {votes_for} to {votes_against} at "
            "a packed meeting on {weekday}, while dozens of protesters gathered outside the town hall.",
            "Council leader {leader}, who first put forward the idea in {month_proposed}, said the "
            "{project_short} would cost {cost}, with a government grant covering {share} of the bill. "
            '"We cannot stand still while other towns move ahead," {leader_sub} said.',
            "The campaign against the scheme was led by Councillor {opponent}, who argued that {concern}. "
            "{opponent_last} said campaigners would now consider a legal challenge.",
            "Construction is expected to start in {start_month} and to last {duration} months. {resident}, "
            "who has lived in {town} for {resident_years} years, said {resident_sub} hoped the "
            "{project_short} would {hope}.",
        ),
    ),
    (
        ("Who first proposed the {project_short} plan in {town}?", "leader"),
        ("How much is the {project_short} in {town} expected to cost?", "cost"),
        ("How many people signed the petition against the {project_short} in {town}?", "signatures"),
        ("Which councillor led the campaign against the {project_short} in {town}?", "opponent"),
        ("How many {town} councillors voted in favour of the {project_short}?", "votes_for"),
        ("In which month is work on the {project_short} in {town} due to begin?", "start_month"),
    ),
)

SPORTS = Topic(
    "sports",
    (
        (
            "{club} win the {competition} for the first time in {drought} years",
            "{club} ended a {drought}-year wait for silverware by beating {rival} {score} in the final of "
            "the {competition} at {ground} on {weekday}.",
            "In front of a crowd of {attendance}, the home side fell behind early on before captain "
            "{captain} levelled with a header just before half-time. The winner came in the {minute} "
            "minute, when substitute {scorer} curled a shot into the top corner from the edge of the area.",
            '"I have dreamed about this since I was a child," {scorer_last} said afterwards. "To do it '
            'here, in front of our own supporters, is something I will never forget."',
            "Manager {manager}, who took charge of the club {tenure} years ago, praised the players' spirit. "
            '"Nobody gave us a chance in {month}," {manager_sub} said. "This group never stopped believing."',
            "{rival} had beaten {club} twice in the league this season. The club said a parade through "
            "{town} would take place next weekend.",
        ),
        (
            "Late {scorer_last} goal sends {club} to glory",
            "A late strike from {scorer} gave {club} a {score} victory over {rival} in the {competition} "
            "final, watched by {attendance} supporters at {ground}.",
            "The match was level until the {minute} minute, when {scorer_last} ran onto a long pass from "
            "captain {captain} and fired past the goalkeeper. It is the club's first major trophy in "
            "{drought} years.",
            '{manager}, the {club} manager, said the win belonged to the whole town. "People in {town} have '
            'waited a long time for a day like this," {manager_sub} said. "The players gave everything."',
            "{rival} manager {rival_manager} admitted {rival_manager_pos} side had been second best on the "
            'day. "They wanted it more than we did," {rival_manager_last} said.',
            "The victory earns {club} a place in next season's {next_competition} and prize money of "
            "{prize}.",
        ),
    ),
    (
        ("Who scored the winning goal for {club} in the {competition} final?", "scorer"),
        ("What was the score when {club} beat {rival} in the {competition} final?", "score"),
        ("Who is the manager of {club}?", "manager"),
        ("How many fans watched the {competition} final between {club} and {rival}?", "attendance"),
        ("Which team did {club} beat in the {competition} final?", "rival"),
        ("Who captained {club} in the {competition} final?", "captain"),
    ),
)

BUSINESS = Topic(
    "business",
    (
        (
            "{company} to create {jobs} jobs in {town}",
            "{company} has announced plans to open a new {site_kind} in {town}, creating {jobs} jobs over "
            "the next three years. The firm, which makes {product}, will invest {investment} in converting "
            "a former {old_site} on the edge of the town.",
            'Chief executive {ceo} said the move followed a year in which sales grew by {growth}. "Demand '
            "for our {product} has never been stronger, and {town} has exactly the skilled workforce we "
            'need," {ceo_sub} said.',
            "The company was founded in {founded} by {founder} in a small rented workshop and now employs "
            "more than {staff} people. The new {site_kind} is expected to open in {open_month}.",
            '{union_rep}, a regional officer for the {union}, welcomed the announcement. "After years of '
            'closures, this is the news people here have been waiting for," {union_rep_sub} said.',
        ),
        (
            "{town} {site_kind} plan brings {jobs} jobs",
            "Around {jobs} new jobs are coming to {town} after {company} confirmed it will build a "
            "{site_kind} on the site of a former {old_site}. The {investment} project was announced on "
            "{weekday} by the company's chief executive, {ceo}.",
            "Founded in {founded}, {company} makes {product} and says its sales rose by {growth} last year. "
            '{ceo_last} said the business had outgrown its existing premises. "We looked at eleven sites '
            'across the country, and {town} was the clear winner," {ceo_sub} said.',
            "Recruitment will begin in {open_month}, with most roles expected to go to local people. "
            "{union_rep} of the {union} said the union would work with the firm to make sure the jobs were "
            "secure and fairly paid.",
            "The company's founder, {founder}, still sits on its board and said {founder_sub} was proud to "
            "see the business grow.",
        ),
    ),
    (
        ("Who is the chief executive of {company}?", "ceo"),
        ("How many jobs will the new {company} {site_kind} in {town} create?", "jobs"),
        ("How much is {company} investing in its new {site_kind} in {town}?", "investment"),
        ("In which year was {company} founded?", "founded"),
        ("By how much did {company}'s sales grow last year?", "growth"),
        ("Who founded {company}?", "founder"),
    ),
)

SCIENCE = Topic(
    "science",
    (
        (
            "{Habit} linked to better health, {town} study finds",
            "People who {habit} are {percent} less likely to {outcome}, according to a study by researchers "
            "at the University of {town}.",
            "The team, led by Professor {lead}, followed {participants} volunteers for {years} years, "
            "recording their daily routines and checking their health every six months. The results were "
            "published on {weekday} in the {journal}.",
            '"We were surprised by how large the effect was," {lead_last} said. "Even small changes to daily '
            'habits seem to make a real difference."',
            "Co-author {coauthor} said the study had taken age, income and diet into account, but cautioned "
            'that it showed a link rather than proof of cause. "We now want to test this directly in a '
            'controlled trial," {coauthor_sub} said.',
            "The research was funded by the {funder}, which has promised a further {funding} for the next "
            "stage of the work.",
        ),
        (
            "{Habit} may protect health, say {town} scientists",
            "Scientists at the University of {town} say they have found strong evidence that people who "
            "{habit} are less likely to {outcome}.",
            "In a study that followed {participants} volunteers for {years} years, those who {habit} were "
            "{percent} less likely to {outcome} than those who did not. The findings appear in the latest "
            "issue of the {journal}.",
            'Lead researcher Professor {lead} said the size of the effect had surprised the team. "It is '
            'rare to find such a simple habit with such a clear benefit," {lead_sub} said.',
            "{coauthor}, who analysed the data, said more work was needed to understand why the habit "
            "helps. The {funder}, which paid for the study, will spend {funding} on a follow-up trial "
            "starting next year.",
        ),
    ),
    (
        ("Who led the University of {town} study on people who {habit}?", "lead"),
        ("How many volunteers took part in the University of {town} study?", "participants"),
        (
            "How much less likely to {outcome} were people who {habit}, according to the University of "
            "{town}?",
            "percent",
        ),
        ("In which journal was the University of {town} study on people who {habit} published?", "journal"),
        ("For how many years did the University of {town} researchers follow their volunteers?", "years"),
        ("Who co-wrote the University of {town} study on people who {habit}?", "coauthor"),
    ),
)

WEATHER = Topic(
    "weather",
    (
        (
            "Hundreds of homes flooded as {storm} hits {town}",
            "More than {homes} homes in {town} have been flooded after {storm} brought {rainfall} of rain "
            "in just {hours} hours, causing the {river} to burst its banks.",
            "Firefighters rescued {rescued} people from cars and houses overnight, and dozens of families "
            "spent the night at {shelter}. Gusts of up to {wind} brought down trees and power lines across "
            "the area.",
            'Area manager {chief} of the fire service said crews had worked through the night. "The water '
            'rose faster than anyone expected," {chief_last} said. "Please stay away from flooded roads."',
            "{resident}, whose house on {street} was flooded, said {resident_sub} had lost almost "
            'everything on the ground floor. "We had about twenty minutes to get out," {resident_sub} said.',
            "Forecasters expect drier weather by {weekday}, but warned that river levels would stay high for "
            "several days.",
        ),
        (
            "{storm}: {river} bursts its banks in {town}",
            "Residents of {town} have begun clearing up after {storm} swept through the area, flooding "
            "{homes} homes and leaving thousands without power.",
            "The {river} burst its banks on {weekday} morning after {rainfall} of rain fell in {hours} "
            "hours, more than the town would usually see in a month. Winds reached {wind} at the height of "
            "the storm.",
            "The fire service said it had rescued {rescued} people, many of them from cars trapped in rising "
            'water. Area manager {chief} said: "Our crews have done an extraordinary job in very dangerous '
            'conditions."',
            "Around two hundred people spent the night at {shelter}. Among them was {resident}, who said "
            "{resident_sub} had watched the water creep up the stairs of {resident_pos} home on {street}. "
            '"I have lived here all my life and never seen anything like it," {resident_sub} said.',
        ),
    ),
    (
        ("Which storm caused the flooding in {town}?", "storm"),
        ("How many homes were flooded in {town}?", "homes"),
        ("How much rain fell on {town} during {storm}?", "rainfall"),
        ("Which river burst its banks in {town}?", "river"),
        ("Which fire service area manager spoke about the rescue effort in {town}?", "chief"),
        ("How many people did firefighters rescue during the {town} floods?", "rescued"),
    ),
)

COURTS = Topic(
    "courts",
    (
        (
            "Former charity treasurer jailed for stealing {amount}",
            "A former treasurer of the {charity} has been jailed for {sentence} for stealing {amount} from "
            "the organisation over {period} years.",
            "{defendant}, {age}, of {town}, admitted fraud at an earlier hearing. {court} heard that "
            "{defendant_sub} moved money into {defendant_pos} own accounts and spent it on {spending}.",
            "Prosecutor {prosecutor} told the court the theft came to light when a volunteer, {witness}, "
            'noticed that donations did not match the bank statements. "This was a calculated and sustained '
            'betrayal of trust," {prosecutor_last} said.',
            "Passing sentence, Judge {judge} said the money had been given by people who wanted to help "
            'others. "You took it for yourself, and you hid it well," the judge said.',
            "The charity, which supports {cause}, said it had since changed the way it handles donations.",
        ),
        (
            "{town} charity fraud: {defendant_last} jailed for {sentence}",
            "A {defendant_noun} who stole {amount} from the {charity} has been jailed for {sentence} at "
            "{court}.",
            "{defendant}, {age}, was the charity's treasurer for more than a decade. Over {period} years "
            "{defendant_sub} made dozens of transfers to {defendant_pos} own accounts, spending the money on "
            "{spending}.",
            "The court heard that the fraud was uncovered by a volunteer, {witness}, who noticed gaps in the "
            'accounts. "I didn\'t want to believe it at first," {witness_last} told the court.',
            "Judge {judge} said {defendant_last} had betrayed the trust of the whole community. Prosecutor "
            "{prosecutor} said the charity, which supports {cause}, had been forced to cut its services "
            "while the money was missing.",
        ),
    ),
    (
        ("Who was jailed for stealing from the {charity}?", "defendant"),
        ("How much money was stolen from the {charity}?", "amount"),
        ("How long was the prison sentence for stealing from the {charity}?", "sentence"),
        ("Which judge sentenced the former treasurer of the {charity}?", "judge"),
        ("Which volunteer uncovered the fraud at the {charity}?", "witness"),
        ("At which court was the former treasurer of the {charity} sentenced?", "court"),
    ),
)

TOPICS = (POLITICS, SPORTS, BUSINESS, SCIENCE, WEATHER, COURTS)

# --- the words the topics' writers draw -----------------------------------------------------------

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUMBER_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")

# (what is built, its short name)
PROJECTS = (
    ("a new swimming pool beside the old market", "swimming pool"),
    ("a footbridge across the river", "footbridge"),
    ("a pedestrian-only high street", "pedestrian zone"),
    ("a bus station on the site of the old cinema", "bus station"),
    ("a concert hall near the harbour", "concert hall"),
    ("a multi-storey car park behind the library", "car park"),
    ("a tram line to the hospital", "tram line"),
    ("a sports centre on the edge of the park", "sports centre"),
    ("a covered food market in the main square", "food market"),
    ("a new town hall on the waterfront", "town hall"),
    ("a cycle lane network across the town", "cycle network"),
    ("an outdoor theatre in the castle grounds", "outdoor theatre"),
)
CONCERNS = (
    "the work would close roads for more than a year",
    "the cost would fall on taxpayers for decades",
    "the project would destroy a much-loved green space",
    "small shops would lose trade during construction",
    "the town could not afford to run the building once it opened",
    "traffic on the surrounding streets would double",
    "the plans ignored the town's history",
    "the money would be better spent on schools",
)
HOPES = (
    "bring more young families into the town",
    "give teenagers somewhere to go in the evenings",
    "put the town back on the map",
    "help local businesses through a difficult time",
    "make the town centre safer at night",
    "attract tourists from across the region",
    "end years of arguments about the town centre",
)

CLUB_SUFFIXES = ("Rovers", "Athletic", "United", "Wanderers", "Albion", "City", "Rangers", "Harriers")
COMPETITIONS = (
    "Northern Counties Cup",
    "Regional Challenge Trophy",
    "Coastal League Cup",
    "Western Shield",
    "Founders' Trophy",
    "County Senior Cup",
    "Valley Championship",
    "Heritage Cup",
)
NEXT_COMPETITIONS = ("National Trophy", "Champions Shield", "Inter-Regional Cup", "Premier Invitational")
GROUND_STEMS = ("Mill", "Station", "Castle", "Riverside", "Victoria", "Harbour", "Meadow", "Brewery")
GROUND_KINDS = ("Park", "Road", "Lane", "Ground", "Stadium")

COMPANY_STEMS = (
    "Brightwater",
    "Hollin",
    "Northcote",
    "Redfern",
    "Silverline",
    "Ashgrove",
    "Blackthorn",
    "Coldharbour",
    "Evermoor",
    "Greystone",
    "Highbury",
    "Ironside",
    "Kingsley",
    "Longacre",
    "Moorcroft",
    "Oakridge",
    "Primrose",
    "Riverbank",
    "Stonebridge",
    "Westfield",
)


@dataclass(frozen=True)
class Industry:
    """A business: its company-name suffix, what it makes, and the kind of site it builds."""

    suffix: str
    product: str
    site_kind: str


INDUSTRIES = (
    Industry("Foods", "frozen ready meals", "factory"),
    Industry("Ceramics", "kitchen tiles", "factory"),
    Industry("Robotics", "warehouse robots", "plant"),
    Industry("Textiles", "outdoor clothing", "mill"),
    Industry("Pharmaceuticals", "generic medicines", "laboratory"),
    Industry("Cycles", "electric bicycles", "assembly plant"),
    Industry("Glassworks", "glass bottles", "factory"),
    Industry("Batteries", "batteries for electric buses", "plant"),
    Industry("Furniture", "flat-pack furniture", "factory"),
    Industry("Brewing", "craft beers", "brewery"),
    Industry("Packaging", "recycled cardboard packaging", "mill"),
    Industry("Solar", "solar panels", "plant"),
)
OLD_SITES = (
    "paper mill",
    "railway depot",
    "army barracks",
    "power station",
    "bus garage",
    "shoe factory",
    "dairy",
    "printing works",
)
UNIONS = (
    "Allied Trades Union",
    "Northern Workers' Union",
    "Federation of Factory Workers",
    "United Makers' Union",
    "General Industrial Union",
)

# (the habit as a headline starts it, the habit after "people who", what it protects against)
STUDIES = (
    ("Walking to work", "walk to work", "develop heart disease"),
    ("Sleeping seven hours", "sleep at least seven hours a night", "catch a winter cold"),
    ("Gardening", "spend time gardening every week", "report feeling lonely"),
    ("Playing music", "play a musical instrument", "show memory loss in later life"),
    ("Reading for pleasure", "read for pleasure every day", "suffer from poor sleep"),
    ("Eating breakfast early", "eat breakfast before eight", "develop type 2 diabetes"),
    ("Cold-water swimming", "swim in cold water", "take time off work sick"),
    ("Owning a dog", "own a dog", "become seriously inactive"),
    ("Volunteering", "volunteer at least once a month", "report symptoms of depression"),
    ("Choir singing", "sing in a choir", "report high levels of stress"),
    ("Cooking at home", "cook most of their meals at home", "become obese"),
    ("Learning a language", "learn a second language as adults", "show early signs of dementia"),
)
JOURNALS = (
    "Northern Journal of Public Health",
    "Annals of Everyday Medicine",
    "Journal of Lifestyle Science",
    "Review of Preventive Health",
    "Bulletin of Population Studies",
    "Quarterly Journal of Wellbeing",
    "Archives of Community Medicine",
    "Journal of Healthy Ageing",
)
FUNDERS = (
    "Halvard Medical Trust",
    "National Health Research Fund",
    "Wellspring Foundation",
    "Brightlife Charitable Trust",
    "Council for Medical Studies",
    "Orsen Research Foundation",
)

RIVERS = (
    "Tamble",
    "Caddon",
    "Ferrin",
    "Glenny",
    "Harrowbeck",
    "Isla Mor",
    "Kelver",
    "Lenning",
    "Marrin",
    "Nethy",
    "Orrow",
    "Pellow",
    "Quenby",
    "Rushmere",
    "Sallow",
    "Tarrant Vale",
    "Ulla",
    "Varrow",
    "Wendle",
    "Yeoll",
    "Ashbeck",
    "Brannon",
    "Colleth",
    "Drennan",
    "Elvy",
    "Foss Dale",
    "Garrow",
    "Hessle",
    "Imber",
    "Jarrow Beck",
    "Kennet Mere",
    "Lossie Vale",
    "Mardle",
    "Noe Water",
    "Ormsby",
    "Pelter",
    "Rother Dene",
    "Skerne Vale",
    "Tillow",
    "Wharle",
)
# "{town}" is filled in.
SHELTERS = (
    "the {town} Leisure Centre",
    "the {town} Community Hall",
    "{town} Primary School",
    "the {town} Methodist Church hall",
    "the {town} Sports Club",
)

# (charity name after the town, the people it supports)
CHARITIES = (
    ("Hospice Trust", "people at the end of their lives"),
    ("Food Bank", "families who cannot afford to eat"),
    ("Animal Rescue", "abandoned dogs and cats"),
    ("Carers' Network", "people looking after sick relatives"),
    ("Mountain Rescue Team", "walkers in trouble on the hills"),
    ("Children's Hospital Appeal", "sick children and their families"),
    ("Refugee Welcome Group", "families arriving from abroad"),
    ("Youth Sailing Club", "young people from poorer homes"),
)
SPENDING = (
    "holidays abroad and a sports car",
    "designer clothes and expensive meals",
    "online gambling",
    "a kitchen extension and a caravan",
    "horse racing bets and jewellery",
    "a boat and flying lessons",
)
