"""Compose the demo corpus in sample_data/ from the hand-written phrase bank below.

Run from the repository root: `python sample_data/make_sample.py`. The output is the same
on every run (fixed seed), and is committed so the README's main command needs no
generation step. Three kinds of documents, on purpose:

- prose: varied paragraphs assembled from many interchangeable sentences;
- templated: mass-produced listings from one long template with new slot values (named
  twice), so they are near-duplicates of each other (word 5-gram Jaccard about 0.85);
- degenerate: text that loops on its own lines and phrases, like a collapsed model.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SEED = 20261124

PLACES = ["the harbour town", "a hill village", "the old mill district", "the river delta", "a mountain pass",
          "the northern coast", "a market square", "the university quarter", "an island ferry stop", "the salt flats",
          "a railway junction", "the orchard valley", "a fishing cooperative", "the glassworks street"]
PEOPLE = ["a retired surveyor", "two apprentice bakers", "the night-shift nurse", "a beekeeper named Ottilie",
          "the ferry captain", "a schoolteacher and her class", "an amateur astronomer", "the town archivist",
          "a pair of cyclists", "the lighthouse keeper", "a carpenter from the valley", "the choir director"]
ACTIONS = ["mapped every footpath by hand", "kept a ledger of the spring floods", "rebuilt the stone bridge twice",
           "counted migrating cranes each autumn", "collected recipes from their neighbours",
           "measured the tide against a painted post", "restored a clock that had stopped in 1911",
           "planted pear trees along the canal", "recorded the dialect of the older fishermen",
           "repaired radios for anyone who asked", "sketched the roofs from the bell tower",
           "traded seeds with farmers three valleys away"]
DETAILS = ["The notebooks are kept in a tin box under the stairs.", "Nobody paid them for it.",
           "Most of the work happened in the hour before dawn.", "The records disagree with the official survey.",
           "Visitors still ask about it at the bakery.", "A storm in the second winter nearly ended the project.",
           "The results were pinned to the noticeboard outside the post office.",
           "Their method was slow, but it caught details the instruments missed.",
           "Half of the original drawings were lost in a cellar flood.",
           "Children from the school helped with the counting on weekends.",
           "The local paper printed a short column about it every month.",
           "It took eleven years before anyone outside the district noticed."]
REFLECTIONS = ["What survives is less a dataset than a habit of attention.",
               "The lesson, if there is one, is that patience compounds.",
               "It is hard to say whether the effort changed anything, but it changed them.",
               "Small records like these are often the only ones that last.",
               "Anyone repeating the work today would need a very different kind of stubbornness.",
               "The archive is open on Thursdays for those who want to see the originals.",
               "Several of the questions they raised remain unanswered.",
               "Their numbers were later confirmed by satellite, almost to the metre."]
OPENERS = ["In {place}, {person} {action}.", "For years, {person} in {place} {action}.",
           "Nobody in {place} expected that {person} {action}.", "It began when {person} {action} in {place}."]

PRODUCTS = ["kettle", "desk lamp", "travel mug", "rain jacket", "garden hose", "bike light", "wool blanket",
            "cutting board", "phone stand", "backpack"]
COLOURS = ["slate grey", "forest green", "warm red", "ocean blue", "sand beige", "matte black", "sunflower yellow"]
LISTING = ("Introducing the all-new {colour} {product}! Designed for everyday life, it combines premium quality with "
           "a sleek modern look that fits any room and any style. Whether you are at home, at work or on the go, it is the "
           "perfect companion for your busy lifestyle, and it makes a thoughtful gift for friends and family as well. "
           "Every unit is checked by hand before it leaves our warehouse, packed in recyclable materials and shipped within "
           "two working days. Order today for just {price} and enjoy free shipping on all orders over twenty dollars. "
           "It comes with a generous warranty and friendly customer support that answers every message within one day. "
           "Thousands of happy customers already love it, and we are sure you will too. Don't miss out on this amazing "
           "offer, upgrade your daily routine today and see the difference for yourself!")

LOOP_LINES = ["The key point is that the key point matters.", "This is important because it is important.",
              "In conclusion, the conclusion is clear.", "We must consider the considerations carefully.",
              "Thank you for reading this post about this post."]


def prose(rng: random.Random) -> str:
    """2-3 paragraphs; no sentence is used twice in one document."""
    details, reflections = rng.sample(DETAILS, len(DETAILS)), rng.sample(REFLECTIONS, len(REFLECTIONS))
    openers = rng.sample(OPENERS, len(OPENERS))
    places, people, actions = rng.sample(PLACES, 3), rng.sample(PEOPLE, 3), rng.sample(ACTIONS, 3)
    paragraphs = []
    for k in range(rng.randint(2, 3)):
        opener = openers[k].format(place=places[k], person=people[k], action=actions[k])
        body = [details.pop() for _ in range(rng.randint(2, 4))]
        paragraphs.append(" ".join([opener, *body, reflections.pop()]))
    return "\n\n".join(paragraphs)


def templated(rng: random.Random) -> str:
    return LISTING.format(product=rng.choice(PRODUCTS), colour=rng.choice(COLOURS),
                          price=f"${rng.randint(9, 89)}.{rng.choice(['99', '49', '95'])}")


def degenerate(rng: random.Random) -> str:
    line = rng.choice(LOOP_LINES)
    lines = [line] * rng.randint(6, 14) + rng.sample(LOOP_LINES, 2) * rng.randint(2, 4)
    rng.shuffle(lines)
    return "\n".join(lines)


KINDS = {"prose": prose, "templated": templated, "degenerate": degenerate}
# source -> share of each kind: each site mixes kinds in its own proportions
SOURCES = {"community-wiki": (0.85, 0.05, 0.10), "shop-feed": (0.25, 0.70, 0.05), "forum-archive": (0.60, 0.15, 0.25)}


def documents(count: int, rng: random.Random) -> list[dict[str, str]]:
    docs = []
    for i in range(count):
        source = rng.choice(list(SOURCES))
        kind = rng.choices(list(KINDS), weights=SOURCES[source])[0]
        docs.append({"doc_id": f"sample-{i:04d}", "source": source, "kind": kind, "text": KINDS[kind](rng)})
    return docs


def main() -> None:
    rng = random.Random(SEED)
    docs = documents(360, rng)
    shards = HERE / "shards"
    shards.mkdir(exist_ok=True)
    for k in range(3):
        part = docs[k * 100:(k + 1) * 100]
        pq.write_table(pa.Table.from_pylist(part), shards / f"part-{k}.parquet")
    with open(HERE / "extra.jsonl", "w", encoding="utf-8") as handle:
        for doc in docs[300:]:
            handle.write(json.dumps(doc, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
