"""Writes train/valid/test.txt: a small synthetic corpus from a fixed grammar (seeded), so a
language model has real structure to learn in seconds (the example downloads Wikitext-2).
Run from this folder: python make_data.py"""
import random

rng = random.Random(0)
subj = ["the cat", "the dog", "a bird", "my friend", "the teacher", "a child", "the old man",
        "her sister"]
verb = ["sees", "likes", "follows", "finds", "helps", "watches", "calls", "meets"]
obj = ["the ball", "a house", "the river", "an apple", "the garden", "a book", "the car", "the sun"]
adv = ["today", "again", "quickly", "at night", "every day", "in the morning"]


def sentence():
    s = f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)}"
    if rng.random() < 0.5:
        s += " " + rng.choice(adv)
    return s + " ."


for name, n in (("train.txt", 1200), ("valid.txt", 150), ("test.txt", 150)):
    with open(name, "w") as f:
        for _ in range(n // 3):
            f.write(" " + " ".join(sentence() for _ in range(3)) + " \n")
