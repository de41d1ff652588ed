"""The Train page and its services: upload checks, background jobs (real tiny runs), errors shown, not raised."""
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import config
from app.services import jobs, uploads

PAGE = str(Path(__file__).resolve().parents[1] / "app" / "app_pages" / "train.py")
TINY = dict(method="hyperdecoder", backbone="tiny-bert2bert", steps=2, batch_size=2,
            extra=("--eval-every", "2", "--eval-examples", "2", "--max-train-examples", "10"))


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(config, "CHECKPOINT_DIRS", [tmp_path / "checkpoints"])
    return tmp_path / "runs"


def csv_bytes(rows=25, header="text,label"):
    return (header + "\n" + "".join(f"example {i},{'yes' if i % 2 else 'no'}\n" for i in range(rows))).encode()


def wait(name, timeout=120):
    deadline = time.time() + timeout
    while jobs.status(name).state == jobs.RUNNING and time.time() < deadline:
        time.sleep(1)
    return jobs.status(name)


# uploads

def test_upload_saves_and_returns_task_argument(runs):
    spec = uploads.save(csv_bytes(), "My Reviews.csv", "reviews", "text", "label")
    name, _, rest = spec.partition("=")
    path, _, columns = rest.rpartition(":")
    assert name == "reviews" and columns == "text,label" and Path(path).parent == runs / "uploads"
    assert Path(path).read_bytes() == csv_bytes()
    assert uploads.default_task_name("My Reviews.csv") == "my_reviews"


def test_upload_jsonl_reports_bad_line_and_empty_value():
    good = [json.dumps({"q": f"question {i}", "a": f"answer {i}"}) for i in range(25)]
    table = uploads.read_table("\n".join(good).encode(), "qa.jsonl")
    assert list(table.columns) == ["q", "a"] and table.index[0] == 1
    with pytest.raises(uploads.UploadError, match="line 3: invalid JSON"):
        uploads.read_table("\n".join([*good[:2], "{oops", *good[2:]]).encode(), "qa.jsonl")
    blank = [*good[:4], json.dumps({"q": "question", "a": "  "}), *good[4:]]
    with pytest.raises(uploads.UploadError, match="line 5: column 'a' must be non-empty"):
        uploads.validate("\n".join(blank).encode(), "qa.jsonl", "qa_own", "q", "a")


@pytest.mark.parametrize("data, filename, columns, message", [
    (b"\xff\xfe bad", "x.csv", ("text", "label"), "not valid UTF-8"),
    (csv_bytes(), "x.txt", ("text", "label"), "upload a .csv or .jsonl"),
    (csv_bytes(rows=5), "x.csv", ("text", "label"), "5 rows; a task needs at least 20"),
    (csv_bytes(), "x.csv", ("text", "stars"), "no column 'stars'; the file has 'text', 'label'"),
    (csv_bytes(header="a:b,label"), "x.csv", ("a:b", "label"), "cannot contain"),
    (b"x" * (config.MAX_UPLOAD_MB * 2**20 + 1), "x.csv", ("text", "label"), "the limit is"),
    (csv_bytes().replace(b"example 0,no", b"example 0,no,extra"), "x.csv", ("text", "label"),
     "line 2: the header has 2 columns"),  # not read as an index column, shifting every row
    (csv_bytes(), "x.csv", ("text", "text"), "'text' is both an input and the target"),
    (b"text\n" + b"row\n" * 25, "x.csv", ("text", "label"), "1 column\\(s\\) \\('text'\\)"),
])
def test_upload_errors_say_what_to_fix(data, filename, columns, message):
    with pytest.raises(uploads.UploadError, match=message):
        uploads.validate(data, filename, "own", *columns)


def test_upload_reads_unnamed_trailing_columns_and_blank_lines_and_counts_lines_as_the_file_does():
    data = b"text,label,,\n" + b"".join(f'"line\n{i}",{i % 2},,\n'.encode() for i in range(20)) + b"   \n\nlast,1,,\n"
    table = uploads.read_table(data, "excel.csv")
    assert len(table) == 21 and table.index[:2].tolist() == [2, 4] and table.index[-1] == 44  # two lines a row
    uploads.validate(data, "excel.csv", "own", "text", "label")


def test_upload_task_name_must_be_new():
    with pytest.raises(uploads.UploadError, match="builtin task"):
        uploads.validate(csv_bytes(), "x.csv", "sentiment", "text", "label")


# jobs

def test_run_names_are_checked(runs):
    for bad in ("", "a b", "../x", "x" * 65):
        with pytest.raises(ValueError, match="letters, digits"):
            jobs.check_name(bad)
    runs.mkdir(parents=True)
    (runs / "taken").mkdir()
    with pytest.raises(ValueError, match="taken"):
        jobs.check_name("taken")


@pytest.mark.slow
def test_job_trains_extracts_and_refuses_overwrite(runs, monkeypatch):
    """The background driver end to end (train, then extract, in processes of their own); the app fixture covers
    what a finished checkpoint looks like, so the extraction here is kept small."""
    monkeypatch.setattr(jobs, "EXTRACT_EXAMPLES", 8)
    jobs.start("tiny", ["sentiment"], **TINY)
    status = wait("tiny")
    assert status.state == jobs.FINISHED, status.message
    assert [r["step"] for r in jobs.read_log("tiny")] == [1, 2]
    assert (runs / "tiny" / "extraction" / "validation.parquet").exists()
    assert jobs.list_jobs() == ["tiny"]
    at = page()
    assert not at.exception and "appears in the checkpoint picker" in at.success[0].value
    with pytest.raises(ValueError, match="taken"):
        jobs.start("tiny", ["sentiment"], **TINY)


@pytest.mark.slow  # starts Python processes that import torch
def test_job_cancel_and_failure():
    jobs.start("slow", ["sentiment"], **{**TINY, "steps": 10_000})
    assert jobs.status("slow").state == jobs.RUNNING
    at = page()
    assert not at.exception and at.button(key="train_cancel").label == "Cancel run"
    at.button(key="train_cancel").click().run()
    assert jobs.status("slow").state == jobs.CANCELLED
    assert not jobs._alive(jobs.load("slow").pid)
    jobs.start("broken", ["no_such_task"], **TINY)
    status = wait("broken", timeout=60)
    assert status.state == jobs.FAILED and "unknown task 'no_such_task'" in status.message


# the page

def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def test_page_shows_upload_errors_without_exceptions():
    at = page()
    assert not at.exception
    at.file_uploader[0].set_value(("bad.csv", b"\xff\xfe\x00 nope", "text/csv")).run()
    assert not at.exception and "not valid UTF-8" in at.error[0].value
    assert at.button[0].disabled  # Start waits for a usable file
    at.file_uploader[0].set_value(("reviews.csv", csv_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    assert at.multiselect[-1].label == "Input column(s)" and at.multiselect[-1].value == ["text"]
    assert [s.label for s in at.selectbox][-2:] == ["Target column", "Label column (optional)"]
    at.multiselect[-1].set_value(["text", "label"]).run()
    at.selectbox[-2].set_value("label").run()
    assert not at.exception
    at.multiselect[-1].set_value([]).run()
    assert "pick an input column" in at.error[0].value
    at.multiselect[-1].set_value(["text"]).run()
    at.text_input[2].set_value("sentiment").run()
    assert "builtin task" in at.error[0].value


def test_page_offers_known_tasks_from_a_local_data_directory(tmp_path):
    fixtures = Path(__file__).parent / "fixtures" / "tasks"
    for name in ("sst2", "trec"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for split in ("train", "validation"):
            (tmp_path / "data" / name / f"{split}.jsonl").write_text((fixtures / name / f"{split}.jsonl").read_text())
    (tmp_path / "data" / "notes").mkdir()  # not a known task: ignored
    at = page()
    at.text_input(key="train_data_dir").set_value(str(tmp_path / "nowhere")).run()
    assert not at.exception and "no such directory" in at.error[0].value
    at.text_input(key="train_data_dir").set_value(str(tmp_path / "data")).run()
    found = at.dataframe[0].value
    assert list(found["task"]) == ["sst2", "trec"] and list(found["train rows"]) == [3, 6]
    assert at.multiselect[1].label == "Tasks from that directory" and at.multiselect[1].value == ["sst2", "trec"]
    at.multiselect[0].set_value([])
    at.selectbox[1].set_value("tiny-bert2bert")
    at.text_input(key="train_name_0").set_value("real-data")
    at.button[0].click().run()
    assert not at.exception and jobs.list_jobs() == ["real-data"]
    command = jobs.load("real-data").train
    assert command[command.index("--tasks") + 1:command.index("--tasks") + 3] == ["sst2", "trec"]
    assert command[command.index("--data-dir") + 1] == str(tmp_path / "data")
    jobs.cancel("real-data")


def test_page_starts_a_run_and_offers_a_fresh_name():
    at = page()
    at.multiselect[0].set_value(["sentiment"])
    at.selectbox[1].set_value("tiny-bert2bert")
    at.text_input(key="train_name_0").set_value("from-page")
    at.button[0].click().run()
    assert not at.exception and jobs.list_jobs() == ["from-page"]
    assert at.text_input(key="train_name_1").value != "from-page"
    assert at.selectbox(key="train_job").value == "from-page"
    jobs.cancel("from-page")


def test_page_rejects_a_bad_run_name():
    at = page()
    at.text_input(key="train_name_0").set_value("no spaces please").run()
    at.button[0].click().run()
    assert not at.exception and "letters, digits" in at.error[0].value
    assert not jobs.list_jobs()


def test_training_time_left_follows_the_runs_pace():
    fresh = [{"step": s, "loss": 1.0, "seconds": 2.0 * s} for s in range(1, 11)]
    assert jobs.seconds_left(fresh, 100) == pytest.approx(180.0)
    resumed = fresh[:5] + [{"step": s, "loss": 1.0, "seconds": 10.0 + 6.0 * (s - 5)} for s in range(6, 11)]
    assert jobs.seconds_left(resumed + [{"step": 10, "eval": {}}], 100) == pytest.approx(360.0)
    assert jobs.seconds_left(fresh, 10) is None and jobs.seconds_left([], 10) is None
    odd = [{"step": 11, "seconds": float("nan")}, {"step": True, "seconds": 1.0}, {"step": 12, "seconds": "3"}]
    assert jobs.seconds_left(fresh + odd, 100) == pytest.approx(180.0)  # unreadable records are skipped
    assert [jobs.duration(s) for s in (30, 180, 3 * 3600)] == ["under a minute", "about 3 min", "about 3.0 h"]
