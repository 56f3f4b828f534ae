"""``rnnkit recipe list | run``, the registry and the shared helpers: listing, errors, JSON."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import RECIPES, get_recipe, recipe_settings, run_recipe
from rnnkit.recipes.common import RecipeContext, jsonable, read_lines, resolve_data

ALL_RECIPES = [
    "worked-many-to-many", "worked-elman-jordan", "names-generation", "names-classification",
    "delayed-regression", "pairwise-sum", "char-gru-sentiment", "shakespeare-char-small",
    "vanishing-gradients", "kalman", "shakespeare-char", "sherlock-char", "ptb-word",
    "ptb-char", "imdb-lstm", "imdb-bilstm", "rt-polarity", "pos-ewt", "translate-en-fr",
    "lstm-variants",
]


def test_recipe_list_shows_every_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipe", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ALL_RECIPES
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # a summary on each line


def test_every_recipe_module_has_reduced_and_full_settings() -> None:
    for name in RECIPES:
        reduced, full = recipe_settings(name), recipe_settings(name, full=True)
        assert type(reduced) is type(full)


def test_unknown_recipe_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "never"
    assert main(["recipe", "run", "no-such-recipe", "--out", str(out)]) == 2
    assert "must be one of" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match="Argument `name` must be one of"):
        get_recipe("pairwise")


def test_bad_settings_and_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown option `iteration`"):
        recipe_settings("pairwise-sum", overrides={"iteration": "5"})
    with pytest.raises(ValueError, match="expects an int"):
        recipe_settings("pairwise-sum", overrides={"better_iterations": "many"})
    with pytest.raises(ValueError, match="Argument `seed` must be a non-negative integer"):
        run_recipe("worked-elman-jordan", seed=-1, out=tmp_path)
    with pytest.raises(FileNotFoundError, match="Argument `data` must be an existing file"):
        run_recipe("names-generation", data=tmp_path / "missing.txt", out=tmp_path)


def test_a_missing_data_path_is_named_by_its_option(tmp_path: Path, capsys) -> None:
    from rnnkit.cli import main

    out = tmp_path / "run"
    missing = tmp_path / "missing.txt"
    assert main(["recipe", "run", "names-generation", "--data", str(missing),
                 "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"rnnkit recipe: error: Option `--data` path '{missing}' does not exist.\n"
    )
    assert not out.exists()
    assert main(["data", "get", "names", "--from", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"rnnkit data: error: Option `--from` path '{missing}' does not exist.\n"
    )


def test_set_without_equals_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["recipe", "run", "worked-elman-jordan", "--set", "decimals",
                 "--out", str(tmp_path)]) == 2
    assert "Argument `--set` expects KEY=VALUE" in capsys.readouterr().err


def test_json_is_one_object_on_stdout_and_the_report_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["recipe", "run", "worked-elman-jordan", "--json", "--out", str(tmp_path),
                 "--set", "decimals=3"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert set(data) == {"recipe", "results"}
    assert len(data["results"]["elman"]["outputs"]) == 4
    assert "(a) Elman" in captured.err
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"] == {"decimals": 3}
    assert saved["results"] == data["results"]


def test_default_run_directory_is_under_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    first = run_recipe("worked-elman-jordan", stream=io.StringIO())
    second = run_recipe("worked-elman-jordan", stream=io.StringIO())
    assert first.run_dir.parent == Path("runs")
    assert first.run_dir.name.startswith("recipe-worked-elman-jordan-")
    assert first.run_dir != second.run_dir  # two runs in the same second do not collide
    assert (tmp_path / first.run_dir / "results.json").is_file()


def test_helpers_check_their_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least one non-empty line"):
        read_lines(empty)
    ctx = RecipeContext("x", tmp_path, full=False, seed=0, data=tmp_path, stream=io.StringIO())
    with pytest.raises(FileNotFoundError, match=r"folder without Portuguese\.txt"):
        resolve_data(ctx, "names", "Portuguese.txt")
    assert jsonable({"a": float("nan"), "b": (Path("p"),)}) == {"a": None, "b": ["p"]}


def test_missing_dataset_names_the_way_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rnnkit.data import download

    def offline(name: str) -> Path:
        raise download.DownloadError(f"Download of {name} failed: cannot reach the server.")

    monkeypatch.setattr(download, "fetch_dataset", offline)
    ctx = RecipeContext("x", tmp_path, full=False, seed=0, stream=io.StringIO())
    with pytest.raises(ValueError, match="give the data with --data PATH"):
        resolve_data(ctx, "names", "Portuguese.txt")
