"""How the language gate (sentiment.language) treats English and non-English shop texts.

    .venv/bin/python benchmarks/language_gate.py ../shared/data
    .venv/bin/python benchmarks/language_gate.py ../shared/data --compare-modes

Prints, for each English measuring set (sentiment/training/data.py): rows, how many the
gate would wrongly mark "unsupported" as sentiment.analysis decides it (target: at most
0.2%), and its cost on one thread: microseconds per text of `detect_language` and of
`english_sentences` on the text's sentences (split beforehand: the pipeline splits every
text anyway), and the texts/s of the two together. Then the RSS growth of building
the detector and running all of it, the gate's verdict on NON_ENGLISH (hand-written
shop reviews in other languages, short and long), and on word salad made from Faker's
per-language lorem word lists (real words, no grammar: a harder case than real reviews,
as cognates are not diluted by function words).

--compare-modes measures lingua's own modes (high/low accuracy, lazy/preloaded models),
each in a fresh process so RSS figures do not mix: RSS growth and texts/s of
`compute_language_confidence_values` on SST-2 dev.
"""

# ruff: noqa: RUF001  # the reviews in other languages are written in their own letters

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (expected ISO 639-1 code, text). Short ones on purpose too: the gate keeps a short text
# as English unless lingua is very sure of another language, so some of those get through.
NON_ENGLISH: tuple[tuple[str, str], ...] = (
    ("es", "El vestido es precioso pero la talla es más pequeña de lo normal."),
    ("es", "Llegó roto y nadie responde a mis correos. Quiero mi dinero."),
    ("es", "Muy buena calidad, lo recomiendo."),
    ("es", "No me gusta nada, la tela pica."),
    ("fr", "La robe est magnifique mais la taille est trop petite."),
    ("fr", "Livraison rapide, produit conforme à la description."),
    ("fr", "Je suis très déçue, le colis est arrivé abîmé et le service client ne répond pas."),
    ("fr", "Très bien, merci!"),
    ("de", "Die Jacke ist super, passt perfekt und die Qualität ist top."),
    ("de", "Leider zu klein, ich muss sie zurückschicken."),
    ("de", "Die Lieferung hat drei Wochen gedauert, das ist eine Frechheit."),
    ("de", "Sehr gut!"),
    ("it", "Prodotto ottimo, spedizione veloce, lo consiglio a tutti."),
    ("it", "La taglia non corrisponde, è troppo grande."),
    ("it", "Pessimo servizio clienti, non rispondono mai."),
    ("pt", "Gostei muito do produto, chegou antes do prazo."),
    ("pt", "A camisa veio com defeito e a troca demorou demais."),
    ("pt", "Qualidade excelente, recomendo!"),
    ("nl", "De jurk is prachtig en past goed, snelle levering."),
    ("nl", "Slechte kwaliteit, na één keer wassen al kapot."),
    ("nl", "Heel tevreden met mijn bestelling."),
    ("pl", "Bardzo dobra jakość, polecam ten sklep."),
    ("pl", "Paczka przyszła uszkodzona, jestem bardzo niezadowolona."),
    ("pl", "Rozmiar się zgadza, materiał przyjemny w dotyku."),
    ("sv", "Snabb leverans och bra kvalitet, jag är nöjd."),
    ("sv", "Tröjan krympte efter första tvätten."),
    ("da", "Kjolen er flot, men den er for lille."),
    ("nb", "Veldig fornøyd med kjøpet, anbefales!"),
    ("fi", "Todella hyvä laatu ja nopea toimitus."),
    ("cs", "Zboží dorazilo rychle, jsem spokojená."),
    ("ro", "Produsul este foarte bun, livrare rapidă."),
    ("hu", "Nagyon elégedett vagyok a termékkel."),
    ("tr", "Ürün çok güzel, kargo hızlıydı, teşekkürler."),
    ("tr", "Beden küçük geldi, iade etmek istiyorum."),
    ("id", "Barangnya bagus dan pengirimannya cepat sekali."),
    ("ru", "Отличное качество, доставка быстрая, рекомендую."),
    ("ru", "Товар пришёл с браком, верните деньги."),
    ("uk", "Дуже задоволена покупкою, все підійшло."),
    ("el", "Πολύ καλή ποιότητα, γρήγορη αποστολή."),
    ("zh", "质量很好，物流也很快，非常满意。"),
    ("zh", "衣服尺码偏小，颜色和图片不一样。"),
    ("ja", "とても可愛いです。サイズもぴったりでした。"),
    ("ja", "届いた商品が壊れていました。返金してください。"),
    ("ko", "배송이 빠르고 품질도 좋아요."),
    ("ar", "المنتج ممتاز والتوصيل سريع."),
)

# Faker locales -> ISO 639-1 code, for the word-salad check.
SALAD_LOCALES = {
    "es_ES": "es",
    "fr_FR": "fr",
    "de_DE": "de",
    "it_IT": "it",
    "nl_NL": "nl",
    "pl_PL": "pl",
    "da_DK": "da",
    "cs_CZ": "cs",
}

MODES = ("high", "high-preloaded", "low", "low-preloaded")


def _setup() -> None:
    sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Resident set size of this process, in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _gate(texts: Sequence[str]) -> list[bool]:
    """Whether each text would be scored, exactly as sentiment.analysis decides it."""
    from sentiment.language import detect_language, english_sentences, is_supported
    from sentiment.text import split_sentences

    scored = []
    for text in texts:
        if not is_supported(detect_language(text)):
            scored.append(False)
            continue
        sentences = [s.text for s in split_sentences(text)]
        scored.append(any(english_sentences(sentences)) if sentences else True)
    return scored


def _speed(function: object, texts: Sequence[str], repeat: int) -> float:
    """Texts per second of the best of `repeat` runs (the machine may be busy)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(texts)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def probe_mode(mode: str, data_dir: Path, rows: int) -> int:
    """One lingua mode in this (fresh) process: RSS growth and texts/s."""
    from lingua import Language, LanguageDetectorBuilder

    from sentiment.language import LANGUAGES
    from sentiment.training import data

    texts = data.sst2(data_dir, "dev")[0][:rows]
    before = rss_mb()
    builder = LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in LANGUAGES))
    if mode.startswith("low"):
        builder = builder.with_low_accuracy_mode()
    if mode.endswith("preloaded"):
        builder = builder.with_preloaded_language_models()
    started = time.perf_counter()
    detector = builder.build()
    detector.compute_language_confidence_values(texts[0])
    ready = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        detector.compute_language_confidence_values(text)
    speed = len(texts) / (time.perf_counter() - started)
    print(f"{mode:<16}{ready:>9.2f}{rss_mb() - before:>12.0f}{speed:>12.0f}")
    return 0


def compare_modes(data_dir: Path, rows: int) -> None:
    print(f"\nlingua modes, {len(MODES)} fresh processes, SST-2 dev first {rows} rows")
    print(f"{'mode':<16}{'ready s':>9}{'RSS +MiB':>12}{'texts/s':>12}")
    for mode in MODES:
        subprocess.run(
            [sys.executable, __file__, str(data_dir), "--probe", mode, "--rows", str(rows)],
            check=True,
        )


def word_salad(count: int) -> dict[str, list[str]]:
    """`count` sentences of 5-12 random words per Faker locale, fixed seed."""
    import random

    from faker import Faker

    rng = random.Random(20261123)
    salads = {}
    for locale, code in SALAD_LOCALES.items():
        fake = Faker(locale)
        fake.seed_instance(rng.randrange(1 << 30))
        salads[code] = [
            fake.sentence(nb_words=rng.randint(5, 12), variable_nb_words=False)
            for _ in range(count)
        ]
    return salads


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the shared data folder, e.g. ../shared/data")
    parser.add_argument("--repeat", type=int, default=3, help="speed: best of N runs")
    parser.add_argument("--show", type=int, default=15, help="wrongly rejected texts to list")
    parser.add_argument("--salad", type=int, default=200, help="word-salad sentences per locale")
    parser.add_argument(
        "--more",
        action="store_true",
        help="also count rejections on SST-2 train (67k phrase fragments, names and critics' "
        "words: a stress test) and the clothing reviews' train split",
    )
    parser.add_argument("--compare-modes", action="store_true", help="also measure lingua modes")
    parser.add_argument("--rows", type=int, default=872, help="rows for --compare-modes")
    parser.add_argument("--probe", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _setup()
    if args.probe:
        return probe_mode(args.probe, args.data_dir, args.rows)

    from sentiment.language import detect_language, detector, english_sentences
    from sentiment.text import split_sentences
    from sentiment.training import data

    sets = data.measuring_sets(args.data_dir)
    before = rss_mb()
    started = time.perf_counter()
    detector()
    built_in = time.perf_counter() - started
    built = rss_mb()

    def detect_all(texts: Sequence[str]) -> None:
        for text in texts:
            detect_language(text)

    def sentences_all(documents: Sequence[list[str]]) -> None:
        for sentences in documents:
            english_sentences(sentences)

    print(
        f"{'set':<16}{'rows':>7}{'rejected':>10}{'rate %':>9}"
        f"{'detect us':>11}{'sentences us':>14}{'gate texts/s':>14}"
    )
    wrong: list[tuple[str, str, str]] = []
    total_rows = total_wrong = 0
    for name, (texts, _) in sets.items():
        scored = _gate(texts)
        rejected = [t for t, ok in zip(texts, scored, strict=True) if not ok]
        wrong += [(name, detect_language(t).code, t) for t in rejected]
        total_rows += len(texts)
        total_wrong += len(rejected)
        # The pipeline splits every text anyway; the gate's own cost is the two calls.
        documents = [[s.text for s in split_sentences(t)] for t in texts]
        detect_us = 1e6 / _speed(detect_all, texts, args.repeat)
        sentences_us = 1e6 / _speed(sentences_all, documents, args.repeat)
        rate = 100 * len(rejected) / len(texts)
        print(
            f"{name:<16}{len(texts):>7}{len(rejected):>10}{rate:>9.2f}"
            f"{detect_us:>11.1f}{sentences_us:>14.1f}{1e6 / (detect_us + sentences_us):>14.0f}"
        )
    print(f"{'all':<16}{total_rows:>7}{total_wrong:>10}{100 * total_wrong / total_rows:>9.2f}")
    print(
        f"\nRSS: {before:.0f} MiB before the detector, +{built - before:.0f} MiB built "
        f"({built_in:.2f} s), +{rss_mb() - before:.0f} MiB after the whole run"
    )

    if wrong:
        print(f"\nEnglish texts the gate rejects (first {args.show}):")
        for name, code, text in wrong[: args.show]:
            print(f"  [{name} -> {code}] {text[:150]}")

    print("\nhand-written non-English reviews:")
    caught = right_code = 0
    for expected, text in NON_ENGLISH:
        guess = detect_language(text)
        rejected = not _gate([text])[0]
        caught += rejected
        right_code += rejected and guess.code == expected
        verdict = "unsupported" if rejected else "SCORED"
        print(f"  {expected} -> {guess.code or '-':<3} {guess.confidence:4.2f} {verdict:<12}{text}")
    print(
        f"  unsupported: {caught}/{len(NON_ENGLISH)} ({100 * caught / len(NON_ENGLISH):.0f}%), "
        f"with the right code: {right_code}"
    )

    if args.salad:
        print(f"\nword salad, {args.salad} sentences of 5-12 words per language:")
        missed: Counter[str] = Counter()
        examples: dict[str, str] = {}
        for code, texts in word_salad(args.salad).items():
            for text, ok in zip(texts, _gate(texts), strict=True):
                if ok:
                    missed[code] += 1
                    examples.setdefault(code, text)
        rates = {code: 100 * (1 - missed[code] / args.salad) for code in SALAD_LOCALES.values()}
        line = "  ".join(f"{code} {rate:.1f}%" for code, rate in rates.items())
        print(f"  unsupported: {line}")
        for code, text in examples.items():
            print(f"  scored ({code}): {text}")

    if args.more:
        print("\nmore English:")
        more = {
            "sst2_train": data.sst2(args.data_dir, "train")[0],
            "clothing_train": data.clothing(args.data_dir, "train")[0],
        }
        for name, texts in more.items():
            rejected = [t for t, ok in zip(texts, _gate(texts), strict=True) if not ok]
            rate = 100 * len(rejected) / len(texts)
            print(f"  {name:<16}{len(texts):>7} rows {len(rejected):>5} rejected ({rate:.2f}%)")
            for text in rejected[: args.show]:
                print(f"    [{detect_language(text).code}] {text[:150]}")

    if args.compare_modes:
        compare_modes(args.data_dir, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
