"""Word lists for the builtin synthetic tasks (all lowercase: the default backbone is uncased)."""

NAMES = """anna maria john david sarah james emma lucas sofia peter laura daniel olivia michael julia thomas
elena robert grace henry alice samuel clara george nina oscar rachel victor diana simon helen adam irene
paul lucy martin ruth felix vera oliver nora hugo eva leo mia ivan zoe omar lena carlos rosa kevin amy
ben kate tom jane mark sara max linda frank chris""".split()

CITIES = """paris london tokyo berlin madrid rome cairo lima oslo dublin vienna prague lisbon athens boston
chicago denver seattle toronto sydney moscow warsaw bangkok mumbai nairobi havana seoul miami dallas
houston phoenix atlanta montreal brussels amsterdam stockholm helsinki budapest istanbul""".split() + [
    "new york", "san francisco", "los angeles", "buenos aires", "hong kong", "las vegas", "cape town", "mexico city"]

DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = "january february march april may june july august september october november december".split()
NUMBER_WORDS = "two three four five six seven eight nine ten twelve".split()

JOBS = """teacher doctor nurse lawyer pilot chef farmer banker painter singer student coach driver judge
author manager officer baker dancer scientist mayor captain artist engineer waiter guard tourist actor
writer soldier""".split()

# --- sentiment ---
ASPECTS = """plot acting soundtrack ending dialogue cast script music food service staff dessert menu
atmosphere room bed pool breakfast view location battery screen design camera sound keyboard coffee
story direction pacing characters""".split()
POSITIVE = """great superb wonderful excellent brilliant lovely fantastic charming impressive delightful
pleasant outstanding perfect amazing good enjoyable beautiful solid""".split()
NEGATIVE = """dull awful boring terrible bland weak poor clumsy disappointing mediocre bad horrible dreadful
stale annoying messy forgettable ugly""".split()
INTENSIFIERS = ["", "", "really ", "truly ", "quite ", "very ", "rather ", "pretty "]
OPENERS = ["", "", "", "honestly, ", "overall, ", "i think ", "in my view, ", "to be fair, ", "sadly, ", "luckily, "]

# --- nli ---
# object -> a generalisation that the premise entails
OBJECTS = {
    "bicycle": "a vehicle", "car": "a vehicle", "scooter": "a vehicle", "boat": "a vehicle",
    "guitar": "an instrument", "violin": "an instrument", "piano": "an instrument", "drum": "an instrument",
    "jacket": "some clothing", "hat": "some clothing", "scarf": "some clothing", "coat": "some clothing",
    "lamp": "some furniture", "chair": "some furniture", "table": "some furniture", "sofa": "some furniture",
    "phone": "a device", "camera": "a device", "laptop": "a device", "radio": "a device",
    "painting": "some art", "statue": "some art", "book": "something to read", "map": "something to read",
}
COLORS = "red blue green yellow black white brown gray orange purple pink".split()
PLACES = """market library park museum station airport bakery hospital school beach harbor garden stadium
theater cafe office church square mall zoo farm gym hotel bank""".split()
# past tense, base form, synonym (past), antonym (past)
VERBS = [
    ("bought", "buy", "purchased", "sold"), ("sold", "sell", None, "bought"),
    ("found", "find", "discovered", "lost"), ("lost", "lose", "misplaced", "found"),
    ("repaired", "repair", "fixed", "broke"), ("broke", "break", "damaged", "repaired"),
    ("borrowed", "borrow", None, "lent"), ("lent", "lend", None, "borrowed"),
    ("painted", "paint", None, None), ("cleaned", "clean", None, None), ("carried", "carry", None, None),
    ("photographed", "photograph", None, None), ("wanted", "want", "desired", None), ("hid", "hide", None, None),
]
PURPOSES = ["for a friend", "for a neighbor", "as a gift", "for a colleague", "for a cousin", "for the weekend", "for a party"]
REASONS = ["because it was cheap", "because it was on sale", "after a long search", "while it was raining",
           "in a hurry", "with a friend", "without help", "with great care"]
STATES = ["was happy", "was tired", "was in a hurry", "felt proud", "was alone", "was late", "was not in a hurry",
          "did not pay with cash", "did not go there alone", "was not tired"]

# --- paraphrase: past tense, passive participle, synonym (past) ---
ACTIONS = [
    ("thanked", "thanked", None), ("called", "called", "phoned"), ("visited", "visited", None),
    ("helped", "helped", "assisted"), ("praised", "praised", "complimented"), ("invited", "invited", None),
    ("blamed", "blamed", None), ("followed", "followed", None), ("interviewed", "interviewed", "questioned"),
    ("warned", "warned", "alerted"), ("hired", "hired", "employed"), ("paid", "paid", None), ("met", "met", None),
    ("saw", "seen", "noticed"), ("taught", "taught", "trained"), ("greeted", "greeted", "welcomed"),
    ("photographed", "photographed", None), ("rescued", "rescued", "saved"), ("chased", "chased", None),
    ("insulted", "insulted", "offended"), ("hugged", "hugged", None), ("ignored", "ignored", None),
]

# --- topic: subjects, verbs, objects, tails per class; several words are shared on purpose ---
TOPICS = {
    "sports": (
        ["the home team", "the coach", "the striker", "the young goalkeeper", "the tennis champion", "the league",
         "the captain", "the club", "the veteran runner", "the national squad", "the cyclist"],
        ["won", "lost", "celebrated", "signed", "announced", "broke", "secured", "played"],
        ["the final", "a new record", "the championship", "a transfer deal", "the derby", "the title match",
         "a gold medal", "the season opener", "a new contract", "the cup"],
        ["after extra time", "in front of a full stadium", "this season", "at the olympics", "despite an injury",
         "in the second half"]),
    "business": (
        ["the company", "the bank", "investors", "the retailer", "the startup", "shareholders", "the chief executive",
         "the airline", "the car maker", "the oil giant"],
        ["reported", "announced", "cut", "raised", "launched", "signed", "secured", "lost"],
        ["record profits", "a merger deal", "prices", "new stores", "quarterly earnings", "a new product",
         "thousands of jobs", "its sales forecast", "a new contract", "interest rates"],
        ["as shares rose", "amid weak demand", "on the stock market", "this quarter", "despite rising costs",
         "after a strong year"]),
    "science": (
        ["researchers", "the team of scientists", "astronomers", "the laboratory", "biologists",
         "engineers at the institute", "the space agency", "chemists", "a young physicist", "doctors"],
        ["discovered", "published", "observed", "announced", "tested", "measured", "launched", "found"],
        ["a new species", "a distant planet", "a vaccine", "evidence of water", "a record temperature",
         "a faster chip", "a new record", "a rare fossil", "a new telescope", "a gene linked to sleep"],
        ["in a new study", "using a telescope", "in the journal", "after years of experiments",
         "in the arctic", "with a new method"]),
    "politics": (
        ["the senator", "the parliament", "the president", "the minister", "voters", "the opposition party",
         "lawmakers", "the governor", "the prime minister", "the city council"],
        ["approved", "rejected", "announced", "debated", "signed", "won", "lost", "proposed"],
        ["a new tax law", "the budget", "the election", "a peace treaty", "a reform bill", "a trade deal",
         "the vote", "new border rules", "a new contract", "the referendum"],
        ["after a long debate", "before the vote", "in the capital", "amid protests", "despite opposition",
         "by a narrow margin"]),
}
GENERIC_SUBJECTS = ["officials", "a spokesperson", "the organisers", "critics", "the group", "experts"]
GENERIC_OBJECTS = ["a statement", "the plan", "new rules", "the results", "a surprise decision", "the report"]
SHARED_TAILS = ["on monday", "according to reports", "last week", "on friday", "this morning", "late on sunday"]

# --- qa: event -> (sentence, where-question, when-question, who-question) templates ---
QA_EVENTS = {
    "moved": ("{name} moved to {city} in {year}.", "where did {name} move to?", "when did {name} move to {city}?", "who moved to {city}?"),
    "born": ("{name} was born in {city} in {year}.", "where was {name} born?", "in what year was {name} born?", "who was born in {city}?"),
    "studied": ("{name} studied in {city} until {year}.", "where did {name} study?", "until what year did {name} study?", "who studied in {city}?"),
    "married": ("{name} got married in {city} in {year}.", "where did {name} get married?", "when did {name} get married?", "who got married in {city}?"),
    "opened": ("in {year}, {name} opened a {business} in {city}.", "where did {name} open a {business}?", "when did {name} open a {business}?", "who opened a {business}?"),
    "worked": ("{name} worked as {a_job} in {city} from {year}.", "in which city did {name} work?", "since what year did {name} work as {a_job}?", "who worked as {a_job}?"),
}
QA_WHAT = {"opened": "what did {name} open in {city}?", "worked": "what job did {name} have in {city}?"}
BUSINESSES = ["bakery", "bookshop", "cafe", "restaurant", "gallery", "gym", "pharmacy", "hotel", "studio", "garage", "flower shop", "bike shop"]

# --- headline: actors (in the text, in the headline, plural?) and actions (in the text, headline verb, rest) ---
ACTORS = [
    ("the city mayor", "mayor", False), ("local police", "police", True), ("a group of students", "students", True),
    ("firefighters", "firefighters", True), ("a team of scientists", "scientists", True),
    ("the national bank", "bank", False), ("a local farmer", "farmer", False), ("volunteers", "volunteers", True),
    ("the football club", "football club", False), ("a young chef", "chef", False), ("doctors", "doctors", True),
    ("teachers", "teachers", True), ("a famous artist", "artist", False), ("engineers", "engineers", True),
    ("the city zoo", "zoo", False), ("a small company", "company", False), ("the army", "army", False),
    ("nurses", "nurses", True), ("a retired pilot", "pilot", False), ("the museum", "museum", False),
]
HEADLINE_ACTIONS = [
    ("opened a new bridge", "open", "new bridge"), ("rescued a stranded whale", "rescue", "stranded whale"),
    ("won a national award", "win", "national award"), ("closed the old factory", "close", "old factory"),
    ("planted a thousand trees", "plant", "thousand trees"), ("discovered an ancient coin", "discover", "ancient coin"),
    ("launched a new bus service", "launch", "new bus service"), ("raised money for the hospital", "raise", "money for hospital"),
    ("cancelled the summer festival", "cancel", "summer festival"), ("built a solar farm", "build", "solar farm"),
    ("found a lost dog", "find", "lost dog"), ("broke a world record", "break", "world record"),
    ("banned cars from the center", "ban", "cars from center"), ("painted a giant mural", "paint", "giant mural"),
    ("hosted a charity concert", "host", "charity concert"), ("repaired the main road", "repair", "main road"),
    ("bought an old castle", "buy", "old castle"), ("sold the famous painting", "sell", "famous painting"),
    ("cleaned the polluted river", "clean", "polluted river"), ("tested a flying taxi", "test", "flying taxi"),
]
HEADLINE_DETAILS = [
    "the project cost {n} million dollars.", "nobody was injured.", "the event drew a large crowd.",
    "{name}, a local resident, called it a great day.", "more events are planned for next year.",
    "the work took {n} months.", "critics said the plan was too expensive.", "the weather was cold and wet.",
    "officials thanked everyone who helped.", "a second phase will start in {month}.",
]

# --- slots: literal words and {slot} values; the slot name is the tag type ---
SLOT_TEMPLATES = [
    "book a flight from {origin} to {destination} on {date}",
    "i need a {airline} flight to {destination} on {date}",
    "show me flights from {origin} to {destination} leaving at {time}",
    "find the cheapest flight to {destination} on {date} at {time}",
    "are there any {airline} flights from {origin} to {destination}",
    "i want to fly to {destination} from {origin} {date}",
    "get me a ticket to {destination} at {time} on {date}",
    "find a {price} {cuisine} restaurant in {city}",
    "book a table for {people} at a {cuisine} place in {city} at {time}",
    "i want {cuisine} food in {city} {date}",
    "reserve a table for {people} on {date} at {time}",
    "is there a {price} {cuisine} restaurant near {city} open at {time}",
    "we are {people} people looking for {cuisine} food in {city}",
    "recommend a {price} place for dinner in {city} on {date}",
]
SLOT_VALUES = {
    "origin": CITIES, "destination": CITIES, "city": CITIES,
    "date": DAYS + ["tomorrow", "today", "next monday", "next friday", "this weekend"] + [f"{m} {d}" for m in MONTHS[:6] for d in (3, 12, 21)],
    "time": ["9 am", "noon", "6 pm", "midnight", "7 pm", "10 am", "8 30 pm", "5 pm", "11 am"],
    "airline": ["delta", "united", "lufthansa", "air france", "british airways", "emirates", "ryanair", "qantas", "american airlines"],
    "cuisine": "italian chinese mexican thai indian japanese greek french korean vegan spanish turkish".split(),
    "price": ["cheap", "fancy", "pricey", "budget", "moderately priced", "reasonably priced"],
    "people": NUMBER_WORDS,
}
