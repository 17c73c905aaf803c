"""Write a tiny folder in the MovieLens 100K formats, with our own made-up rows."""
from __future__ import annotations

from pathlib import Path

GENRES = ["unknown", "Action", "Comedy", "Drama", "Sci-Fi"]
FILMS = [  # id, title, release date, genres
    (1, "Harbour Lights (1994)", "01-Jan-1994", ["Drama"]),
    (2, "The Last Signal (1997)", "01-Jan-1997", ["Action", "Sci-Fi"]),
    (3, "Rival Bakers (1995)", "01-Jan-1995", ["Comedy"]),
    (4, "Orbit of Glass (1996)", "01-Jan-1996", ["Sci-Fi", "Drama"]),
    (5, "Untitled", "", []),
]
USERS = [(1, 31, "F", "engineer", "10115"), (2, 45, "M", "writer", "75001"), (3, 22, "F", "student", "1050")]
RATINGS = [(1, 1, 4), (1, 2, 5), (1, 4, 3), (2, 2, 2), (2, 3, 5), (2, 4, 4), (3, 1, 1), (3, 3, 4), (3, 5, 3)]


def write_movielens(folder: Path, *, data_lines: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)) + "\n", encoding="latin-1")
    item_lines = []
    for film_id, title, date, genres in FILMS:
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        item_lines.append(f"{film_id}|{title}|{date}||http://example.org/{film_id}|{flags}")
    (folder / "u.item").write_text("\n".join(item_lines) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("".join("|".join(map(str, u)) + "\n" for u in USERS), encoding="latin-1")
    lines = data_lines if data_lines is not None else [
        f"{u}\t{i}\t{r}\t{880000000 + 60 * n}" for n, (u, i, r) in enumerate(RATINGS)]
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder
