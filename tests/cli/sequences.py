"""Writes a small sequence-classification set for tests/cli/e2e_sequence.sh:
DIR/train.txt and DIR/test.txt, one sample per line, the label then the
token ids. Class c (of 3) draws about a third of its tokens from its own
five ids (1 + 5c ... 5 + 5c) and the rest from shared noise ids (16..49);
lengths vary from 3 to 24, so batches need padding.

usage: sequences.py DIR N_TRAIN N_TEST SEED"""
import os
import random
import sys


def write(path, n, rng):
    with open(path, "w") as f:
        for _ in range(n):
            label = rng.randrange(3)
            length = rng.randint(3, 24)
            tokens = [rng.randint(1 + 5 * label, 5 + 5 * label) if rng.random() < 0.35 else rng.randint(16, 49)
                      for _ in range(length)]
            f.write("%d %s\n" % (label, " ".join(map(str, tokens))))


def main():
    out, n_train, n_test, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(seed)
    write(os.path.join(out, "train.txt"), n_train, rng)
    write(os.path.join(out, "test.txt"), n_test, rng)


main()
