"""The builtin offline suite: seven small synthetic tasks, one per generator, covering every output type.

Each generator draws one raw record in a hub layout (so the ordinary task classes format and score
it) from a seeded `random.Random`. Labels are cycled for balance; records are deduplicated on their
input text before the first `n_validation` become validation and the rest train, so the splits are
disjoint and the same seed always gives byte-identical data.
"""

import functools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import builtin_text as words
from .io import DataError
from .label import LabelTask
from .squad import SquadTask
from .summarization import TextTask
from .tagging import TaggingTask

TARGET_KEYS = ("label", "answers", "summary", "ner_tags")  # everything else is input, for deduplication


@dataclass(frozen=True)
class Synthetic:
    make: Callable[[random.Random, str], dict]  # (rng, kind) -> raw record
    kinds: tuple[str, ...]  # cycled per example: the labels, or question types
    seed: int = 0
    n_train: int = 2000
    n_validation: int = 250

    def options(self) -> dict:
        return {"seed": self.seed, "n_train": self.n_train, "n_validation": self.n_validation}

    def records(self, name: str, split: str):
        splits = _generate(self, name)
        if split not in splits:
            raise DataError(f"builtin task {name} has splits {', '.join(sorted(splits))}, not {split!r}")
        return iter(splits[split])


@functools.lru_cache(maxsize=64)
def _generate(data: Synthetic, name: str) -> dict[str, list]:
    rng = random.Random(f"{name}:{data.seed}")  # str seeds hash with sha512: stable across processes
    seen, records = set(), []
    while len(records) < data.n_validation + data.n_train:
        kind = data.kinds[len(records) % len(data.kinds)]
        for _ in range(1000):
            raw = data.make(rng, kind)
            key = json.dumps({k: v for k, v in raw.items() if k not in TARGET_KEYS}, sort_keys=True)
            if key not in seen:
                break
        else:
            raise RuntimeError(f"builtin task {name}: only {len(records)} distinct examples; lower n_train")
        seen.add(key)
        records.append(raw)
    tagged = [(f"builtin {name} (seed {data.seed}) #{i}", raw) for i, raw in enumerate(records)]
    return {"validation": tagged[: data.n_validation], "train": tagged[data.n_validation:]}


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _sentence(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- sentiment: negation flips a clause; with "but"/"although"/"even though" one clause decides ---

def _clause(rng: random.Random, positive: bool) -> str:
    negated = rng.random() < 0.35
    adjective = rng.choice(words.POSITIVE if positive != negated else words.NEGATIVE)
    aspect = rng.choice(words.ASPECTS)
    if not negated:
        return f"the {aspect} was {rng.choice(words.INTENSIFIERS)}{adjective}"
    return rng.choice([f"the {aspect} was not {adjective}", f"the {aspect} was not very {adjective}",
                       f"the {aspect} was never {adjective}", f"i would not call the {aspect} {adjective}",
                       f"nobody would say the {aspect} was {adjective}"])


def make_sentiment(rng: random.Random, label: str) -> dict:
    positive = label == "positive"
    decisive, other = _clause(rng, positive), _clause(rng, not positive if rng.random() < 0.8 else positive)
    form = rng.randrange(6)
    sentence = [f"{decisive}.", f"{other} but {decisive}.", f"although {other}, {decisive}.",
                f"{decisive}, even though {other}.", f"{other}; however, {decisive}.",
                f"{decisive} and {_clause(rng, positive)}."][form]
    return {"sentence": _sentence(rng.choice(words.OPENERS) + sentence), "label": label}


# --- nli: one event in the premise; each hypothesis frame has an implied, a clashing and an
# unverifiable version that differ in a word or two, so only comparing with the premise tells them apart ---

def make_nli(rng: random.Random, label: str) -> dict:
    name, other_name = rng.sample(words.NAMES, 2)
    past, base, synonym, antonym = rng.choice(words.VERBS)
    obj = rng.choice(sorted(words.OBJECTS))
    color, other_color = rng.sample(words.COLORS, 2)
    place, other_place = rng.sample(words.PLACES, 2)
    day, other_day = rng.sample(words.DAYS, 2)
    job, other_job = rng.sample(words.JOBS, 2)
    purpose, reason, state = rng.choice(words.PURPOSES), rng.choice(words.REASONS), rng.choice(words.STATES)
    with_job = rng.random() < 0.3
    who = f"{name}, {_a(job)}," if with_job else name
    thing, other_thing = _a(f"{color} {obj}"), _a(f"{other_color} {obj}")
    extra = rng.choice([purpose, reason]) if rng.random() < 0.3 else ""  # the premise may say why / for whom
    premise = rng.choice([f"{who} {past} {thing} at the {place} on {day}",
                          f"on {day}, {who} {past} {thing} at the {place}",
                          f"at the {place}, {who} {past} {thing} on {day}"]) + (f" {extra}." if extra else ".")
    if not extra:
        extra = purpose  # unverifiable, so the "extra" frame below becomes neutral
    frames = [  # (implication, neutral, contradiction)
        (f"{name} {past} {_a(obj)}.", f"{other_name} {past} {thing}.", f"{name} {past} {other_thing}."),
        (f"{name} was at the {place} on {day}.", f"{name} was at the {place} all day on {rng.choice([day, other_day])}.",
         f"{name} was at the {other_place} all day on {day}."),
        (f"someone {past} {_a(obj)} at the {place}.", f"{rng.choice(['someone', 'nobody'])} {past} {_a(obj)} at the {other_place}.",
         f"nobody {past} {_a(obj)} at the {place}."),
        (f"{name} {synonym or past} {thing}.", f"{name} did not {base} {thing} {purpose}.", f"{name} did not {base} {thing}."),
        (f"{name} {past} {words.OBJECTS[obj]}.", f"{name} never {past} {words.OBJECTS[obj]} before.", f"{name} never {past} {words.OBJECTS[obj]}."),
        (f"{name} {past} {thing} on {day}.", f"{name} {past} {thing} {reason}.", f"{name} {past} {thing} on {other_day}."),
        (f"{name} {past} something at the {place}.", f"{name} {state} at the {place}.", f"{name} {antonym or 'never ' + past} {thing} at the {place}."),
        (f"{name} {past} {_a(obj)} {extra}." if extra in premise else None, f"{other_name} {past} {thing} {extra}.",
         f"{name} {past} {other_thing} {extra}."),
        (f"{name} is {_a(job)}." if with_job else None, f"{name} is {_a(job)}." if not with_job else f"{other_name} is {_a(job)}.",
         f"{name} is {_a(other_job)}." if with_job else None),
    ]
    column = ("implication", "neutral", "contradiction").index(label)
    hypothesis = rng.choice([frame[column] for frame in frames if frame[column]])
    return {"premise": premise, "hypothesis": hypothesis, "label": label}


# --- paraphrase: reworded (passive, fronting, synonyms) vs. one changed role/number/entity ---

def make_paraphrase(rng: random.Random, label: str) -> dict:
    a, b, other = rng.sample(words.JOBS, 3)
    (past, participle, synonym), other_action = rng.sample(words.ACTIONS, 2)
    city, other_city = rng.sample(words.CITIES, 2)
    day, other_day = rng.sample(words.DAYS, 2)
    count, other_count = rng.sample(words.NUMBER_WORDS, 2)
    plural = rng.random() < 0.3
    event = {"agent": f"{count} {a}s" if plural else f"the {a}", "verb": past, "participle": participle,
             "patient": f"the {b}", "city": city, "day": day}
    first = _render_event(event, "active", past)
    if label == "no":
        change = rng.choice(["swap", "swap", "entity", "place", "time", "number" if plural else "swap"])
        if change == "swap":
            event |= {"agent": f"the {b}", "patient": f"{count} {a}s" if plural else f"the {a}"}
        elif change == "entity":
            event |= {"agent": f"the {other}"} if rng.random() < 0.5 else {"verb": other_action[0], "participle": other_action[1]}
            synonym = None
        elif change == "number":
            event |= {"agent": f"{other_count} {a}s"}
        else:
            event |= {"city": other_city} if change == "place" else {"day": other_day}
    form = rng.choice(["passive", "fronted", "passive fronted"] + (["synonym", "synonym fronted"] if synonym else []))
    second = _render_event(event, form, synonym or event["verb"])
    return {"sentence1": first, "sentence2": second, "label": label}


def _render_event(event: dict, form: str, verb: str) -> str:
    agent, patient, where, when = event["agent"], event["patient"], f"in {event['city']}", f"on {event['day']}"
    if "passive" in form:
        clause = f"{patient} {'was' if patient.startswith('the ') else 'were'} {event['participle']} by {agent}"
    else:
        clause = f"{agent} {event['verb'] if form == 'active' else verb} {patient}"
    return f"{when}, {clause} {where}." if "fronted" in form else f"{clause} {where} {when}."


# --- topic: subject + verb + object + tail, with shared verbs/objects and off-topic tails ---

def make_topic(rng: random.Random, label: str) -> dict:
    subjects, verbs, objects, tails = words.TOPICS[label]
    subject, verb, obj = rng.choice(subjects), rng.choice(verbs), rng.choice(objects)
    roll = rng.random()
    if roll < 0.2:  # a generic subject: the object alone decides
        subject = rng.choice(words.GENERIC_SUBJECTS)
    elif roll < 0.4:  # a generic object: the subject alone decides
        obj = rng.choice(words.GENERIC_OBJECTS)
    if rng.random() < 0.3:  # an off-topic verb or tail
        other = words.TOPICS[rng.choice([t for t in sorted(words.TOPICS) if t != label])]
        verb, tails = (rng.choice(other[1]), tails) if rng.random() < 0.5 else (verb, other[3])
    tail = rng.choice(tails + words.SHARED_TAILS)
    lead = rng.choice(["", "", f"{rng.choice(words.CITIES)}: ", "breaking news: ", "in other news, "])
    return {"text": _sentence(f"{lead}{subject} {verb} {obj} {tail}."), "label": label}


# --- qa: two or three people with different events, places and years; the question picks one ---

def _person(rng: random.Random, name: str, city: str, year: int) -> dict:
    job = rng.choice(words.JOBS)
    return {"name": name, "city": city, "year": str(year), "job": job, "a_job": _a(job), "business": rng.choice(words.BUSINESSES)}


def make_qa(rng: random.Random, kind: str) -> dict:
    n = rng.choice([2, 3])
    events = rng.sample(sorted(words.QA_EVENTS), n)
    if kind == "what" and not set(events) & set(words.QA_WHAT):
        events[0] = rng.choice(sorted(words.QA_WHAT))
    people = [_person(rng, *p) for p in zip(rng.sample(words.NAMES, n), rng.sample(words.CITIES, n), rng.sample(range(1950, 2024), n))]
    sentences = [words.QA_EVENTS[e][0].format(**p) for e, p in zip(events, people)]
    candidates = [i for i, e in enumerate(events) if kind != "what" or e in words.QA_WHAT]
    i = rng.choice(candidates)
    event, person = events[i], people[i]
    _, where, when, who = words.QA_EVENTS[event]
    question, answer = {"where": (where, person["city"]), "when": (when, person["year"]), "who": (who, person["name"]),
                        "what": (words.QA_WHAT.get(event, ""), person["business" if event == "opened" else "job"])}[kind]
    context = " ".join(sentences)
    start = context.index(sentences[i]) + sentences[i].index(answer)
    return {"question": question.format(**person), "context": context, "answers": {"text": [answer], "answer_start": [start]}}


# --- headline: "<who> <does what> in <where>" from a two-sentence news text with distractors ---

def _third_person(verb: str) -> str:
    return verb + ("es" if verb.endswith(("s", "sh", "ch", "x", "z")) else "s")


def make_headline(rng: random.Random, _kind: str) -> dict:
    actor, short_actor, plural = rng.choice(words.ACTORS)
    action, verb, rest = rng.choice(words.HEADLINE_ACTIONS)
    city, day, name = rng.choice(words.CITIES), rng.choice(words.DAYS), rng.choice(words.NAMES)
    detail = rng.choice(words.HEADLINE_DETAILS).format(n=rng.choice(words.NUMBER_WORDS), name=name, month=rng.choice(words.MONTHS))
    document = rng.choice([f"{actor} {action} in {city} on {day}, officials said. {detail}",
                           f"on {day}, {actor} in {city} {action}. {detail}",
                           f"{city}: {actor} {action} this week. {detail}",
                           f"residents of {city} watched as {actor} {action} on {day}. {detail}",
                           f"{detail} {actor} {action} in {city} on {day}."])
    summary = f"{short_actor} {verb if plural else _third_person(verb)} {rest} in {city}"
    return {"document": document, "summary": summary}


# --- slots: flight and restaurant requests with BIO slot tags ---

def make_slots(rng: random.Random, _kind: str) -> dict:
    template = rng.choice(words.SLOT_TEMPLATES)
    cities = iter(rng.sample(words.CITIES, 3))  # origin, destination and city never coincide
    tokens, tags = [], []
    for piece in template.split():
        if not piece.startswith("{"):
            tokens.append(piece)
            tags.append("O")
            continue
        slot = piece.strip("{}")
        value = (next(cities) if slot in ("origin", "destination", "city") else rng.choice(words.SLOT_VALUES[slot])).split()
        tokens += value
        tags += [f"B-{slot}"] + [f"I-{slot}"] * (len(value) - 1)
    return {"tokens": tokens, "ner_tags": tags}


def _label_task(name: str, fields: tuple[str, ...], labels, make) -> LabelTask:
    return LabelTask(name=name, fields=fields, labels=tuple(labels), synthetic=Synthetic(make, tuple(labels)))


def builtin_tasks() -> list:
    return [
        _label_task("sentiment", ("sentence",), ("negative", "positive"), make_sentiment),
        _label_task("nli", ("premise", "hypothesis"), ("implication", "neutral", "contradiction"), make_nli),
        _label_task("paraphrase", ("sentence1", "sentence2"), ("no", "yes"), make_paraphrase),
        _label_task("topic", ("text",), sorted(words.TOPICS), make_topic),
        SquadTask(name="qa", prefix="qa ", synthetic=Synthetic(make_qa, ("who", "where", "when", "what"))),
        TextTask(name="headline", prefix="headline:", synthetic=Synthetic(make_headline, ("any",))),
        TaggingTask(name="slots", synthetic=Synthetic(make_slots, ("any",))),
    ]
