"""Named datasets: where each file comes from, what its bytes must hash to, and its licence.

Every entry pins its sources to fixed commits (raw GitHub files) or to the publisher's archive,
and gives the sha256 of each file's *uncompressed content* -- the digests listed in
``shared/data/README.md``, never guessed. A download or a local copy is accepted only when its
size and digest match. Where the publisher ships an archive (IMDB, rt-polarity, the Tatoeba
pairs), the archive itself is not pinned: the file *converted* from it is, and the conversion
reproduces the layout of ``shared/data`` exactly.

Examples:
    >>> entry = get_dataset("tiny-shakespeare")
    >>> entry.files[0].name, entry.files[0].size
    ('tinyshakespeare.txt', 1115394)
    >>> sorted(DATASETS)[:3]
    ['eng-fra', 'imdb', 'names']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONVERSIONS",
    "DATASETS",
    "Dataset",
    "DatasetFile",
    "Source",
    "find_by_sha256",
    "get_dataset",
]

#: How a source's downloads become the dataset's files:
#: ``copy`` (one URL per file, taken as is), ``imdb-tar`` (aclImdb tarball to imdb.tsv),
#: ``rt-polarity-pair`` (UTF-8 .pos and .neg to rt-polarity.tsv), ``rt-polarity-tar``
#: (Cornell's cp1252 tarball to rt-polarity.tsv), ``zip`` (members of one zip file).
CONVERSIONS = ("copy", "imdb-tar", "rt-polarity-pair", "rt-polarity-tar", "zip")


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset, as it lies in the cache.

    Attributes:
        name: path inside the dataset's cache folder.
        size: bytes of the uncompressed content.
        sha256: sha256 of the uncompressed content.
        git_blob: git blob id (sha1 of ``b"blob <len>\\0" + content``), where known in full.
        local_names: paths of this file inside a local copy (``--from FOLDER``), tried as
            given and with ``.gz``; the ``shared/data`` layout comes first.
        member: the archive member it is extracted from (``zip`` sources).
    """

    name: str
    size: int
    sha256: str
    git_blob: str | None = None
    local_names: tuple[str, ...] = ()
    member: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a dataset can be downloaded from.

    Attributes:
        urls: for ``copy``, one URL per dataset file (same order); otherwise the archive(s).
        conversion: one of :data:`CONVERSIONS`.
        note: what the source is and how it was checked.
    """

    urls: tuple[str, ...]
    conversion: str = "copy"
    note: str = ""

    @property
    def archive_names(self) -> tuple[str, ...]:
        """The file names of the downloads (what ``--from`` accepts as a local archive)."""
        return tuple(url.rsplit("/", 1)[-1] for url in self.urls)


@dataclass(frozen=True)
class Dataset:
    """A named dataset.

    Attributes:
        name: the name ``rnnkit data get`` takes.
        description: one line.
        task: what it is used for in rnnkit (``lm-char``, ``classify``, ...).
        licence: licence and creators, as stated by the sources.
        files: the files, with their digests.
        sources: download sources, tried in order.
        notes: caveats (splits, differences from well-known copies).
    """

    name: str
    description: str
    task: str
    licence: str
    files: tuple[DatasetFile, ...]
    sources: tuple[Source, ...]
    notes: str = ""

    @property
    def size(self) -> int:
        """Total bytes of the uncompressed files."""
        return sum(f.size for f in self.files)


_GH = "https://raw.githubusercontent.com"

_CHAR_RNN = "karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
_NAMES_REPO = "spro/practical-pytorch/c520c52e68e945d88fff563dba1c028b6ec0197b"
_IFT6135 = "arthurdehgan/IFT6135_assignment_2/191820cabc95c8d8af11d0bf3679207dd3b97e08"
_EWT = "UniversalDependencies/UD_English-EWT/4c89b5833a70aa5ed3a00bad2f23f57992cc7df8"
_SHERLOCK = "M1314/InteligenciaPython/edaea06a0fa5b035c624713287c886d3ffb6073f"
_GENIMIND = "genimind/seq2seq/4f3f8eb0adde54fcc8b89394336b002e7961244c"
_DENNYBRITZ = (
    "dennybritz/cnn-text-classification-tf/18762b459e21d9c70e5c242f8d43fc4e6db37a0d"
    "/data/rt-polaritydata"
)

# name -> (lines, bytes, sha256) of spro/practical-pytorch data/names/*.txt (shared/data README).
_NAMES = {
    "Arabic": (2000, 13190, "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc"),
    "Chinese": (268, 1246, "09ba8f1f7e38dbc99372d461b26ad4433b811fc6bfa6a3ecca6fe11a9a777465"),
    "Czech": (519, 3916, "e17ab0ec47616a72c39cb85c783f70c3663ab64488721e5d8378f146d2226be7"),
    "Dutch": (297, 2351, "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3"),
    "English": (3668, 27125, "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2"),
    "French": (277, 2178, "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95"),
    "German": (724, 5610, "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db"),
    "Greek": (203, 1981, "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6"),
    "Irish": (232, 1858, "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058"),
    "Italian": (709, 5657, "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4"),
    "Japanese": (991, 7622, "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f"),
    "Korean": (94, 423, "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136"),
    "Polish": (139, 1165, "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826"),
    "Portuguese": (74, 554, "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53"),
    "Russian": (9384, 85168, "0cfe53ac18041e8f63666aa77313e0a3ff378facb132abee052d8ebdc8c3d62c"),
    "Scottish": (100, 752, "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd"),
    "Spanish": (298, 2284, "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7"),
    "Vietnamese": (73, 339, "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d"),
}

# split -> (bytes, sha256) of the PTB files (shared/data README).
_PTB_WORD = {
    "train": (5101618, "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    "valid": (399782, "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "test": (449945, "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}
_PTB_CHAR = {
    "train": (10034964, "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9"),
    "valid": (786084, "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8"),
    "test": (884846, "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe"),
}
_EWT_FILES = {
    "train": (14203025, "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
    "dev": (1805545, "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
    "test": (1804515, "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd"),
}
_PTB_LICENCE = (
    "Text: Penn Treebank WSJ (Marcus et al., LDC); preprocessing: Tomas Mikolov. Licence not "
    "stated by any source; pytorch/examples dropped PTB for an open-access corpus. Keep it to "
    "local benchmarks and tests."
)

_ENTRIES = (
    Dataset(
        name="tiny-shakespeare",
        description="Tiny Shakespeare, the char-rnn corpus (1,115,394 chars, 65 symbols)",
        task="lm-char",
        licence=(
            "Andrej Karpathy (compilation) of public-domain Shakespeare texts; char-rnn repo "
            "licence MIT. No separate data licence."
        ),
        files=(
            DatasetFile(
                "tinyshakespeare.txt",
                1115394,
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                git_blob="7dcb3a2d4cc3b48b6283dd46870bfeb78f88aac9",
                local_names=("tinyshakespeare.txt", "input.txt"),
            ),
        ),
        sources=(
            Source(
                (f"{_GH}/{_CHAR_RNN}/data/tinyshakespeare/input.txt",),
                note="karpathy/char-rnn data/tinyshakespeare/input.txt at a fixed commit",
            ),
        ),
        notes="No official split; 40,000 lines.",
    ),
    Dataset(
        name="names",
        description="Surnames by language of origin, 18 classes (PyTorch char-RNN tutorials)",
        task="classify-char",
        licence="Sean Robertson, spro/practical-pytorch; repo licence MIT. No data licence.",
        files=tuple(
            DatasetFile(f"{lang}.txt", size, sha, local_names=(f"names/{lang}.txt", f"{lang}.txt"))
            for lang, (_, size, sha) in _NAMES.items()
        ),
        sources=(
            Source(
                tuple(f"{_GH}/{_NAMES_REPO}/data/names/{lang}.txt" for lang in _NAMES),
                note="spro/practical-pytorch data/names at a fixed commit (the clean copy)",
            ),
        ),
        notes=(
            "20,050 names, 17,455 distinct. The diegoicosta/pytorch-tutorial copy has 20,075 "
            "lines (noise lines included); this is the clean original."
        ),
    ),
    Dataset(
        name="ptb",
        description="Penn Treebank, word level (Mikolov's 10k-vocabulary preprocessing)",
        task="lm-word",
        licence=_PTB_LICENCE,
        files=tuple(
            DatasetFile(
                f"ptb.{split}.txt", size, sha,
                local_names=(f"ptb/ptb.{split}.txt", f"ptb.{split}.txt", f"{split}.txt"),
            )
            for split, (size, sha) in _PTB_WORD.items()
        ),
        sources=(
            Source(
                tuple(f"{_GH}/{_IFT6135}/data/ptb.{split}.txt" for split in _PTB_WORD),
                note=(
                    "same git blobs as pytorch/examples word_language_model/data/penn/*.txt "
                    "before commit cf74c81"
                ),
            ),
        ),
        notes="train 929,589 / valid 73,760 / test 82,430 tokens with <eos>; 10,000 types.",
    ),
    Dataset(
        name="ptb-char",
        description="Penn Treebank, character level ('_' between words, spaces between chars)",
        task="lm-char",
        licence=_PTB_LICENCE,
        files=tuple(
            DatasetFile(
                f"ptb.char.{split}.txt", size, sha,
                git_blob="84b890a87aed6ad2989aa12d03f1129c41d727b2" if split == "train" else None,
                local_names=(f"ptb/ptb.char.{split}.txt", f"ptb.char.{split}.txt"),
            )
            for split, (size, sha) in _PTB_CHAR.items()
        ),
        sources=(
            Source(
                tuple(f"{_GH}/{_IFT6135}/data/ptb.char.{split}.txt" for split in _PTB_CHAR),
                note="arthurdehgan/IFT6135_assignment_2 at a fixed commit",
            ),
        ),
        notes="49 symbols; the files end with '\\n ' as in the original.",
    ),
    Dataset(
        name="ud-english-ewt",
        description="Universal Dependencies English Web Treebank v2.16 (CoNLL-U; UPOS/XPOS)",
        task="tag",
        licence="CC BY-SA 4.0 (Stanford UD EWT team, over LDC2012T13 text).",
        files=tuple(
            DatasetFile(
                f"en_ewt-ud-{split}.conllu", size, sha,
                git_blob="34731d23bafeeff233fdcee18ffc0254b1aa0e28" if split == "train" else None,
                local_names=(
                    f"ud_english_ewt/en_ewt-ud-{split}.conllu",
                    f"en_ewt-ud-{split}.conllu",
                ),
            )
            for split, (size, sha) in _EWT_FILES.items()
        ),
        sources=(
            Source(
                tuple(f"{_GH}/{_EWT}/en_ewt-ud-{split}.conllu" for split in _EWT_FILES),
                note="UniversalDependencies/UD_English-EWT at the commit of tag r2.16",
            ),
        ),
        notes="12,544 / 2,001 / 2,077 sentences (train / dev / test).",
    ),
    Dataset(
        name="imdb",
        description="IMDB Large Movie Review Dataset v1.0: 50k labelled reviews, official split",
        task="classify",
        licence=(
            "Maas, Daly, Pham, Huang, Ng, Potts (ACL 2011). Licence not stated; the dataset "
            "README asks users to cite the paper."
        ),
        files=(
            DatasetFile(
                "imdb.tsv",
                66008525,
                "8ec68c4aaf616f75281d2585ab777290cfcde6c5f4800ef488ba8175b0e6e587",
                local_names=("imdb.tsv",),
            ),
        ),
        sources=(
            Source(
                ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                conversion="imdb-tar",
                note=(
                    "the publisher's tarball; only the converted imdb.tsv is verified (header "
                    "split/label/text, rows train-pos, train-neg, test-pos, test-neg, each by "
                    "review id, TABs in reviews replaced by spaces)"
                ),
            ),
        ),
        notes="TSV without quoting (texts contain '\"'); <br /> tags kept; unsup not included.",
    ),
    Dataset(
        name="rt-polarity",
        description="Sentence polarity v1.0 (Rotten Tomatoes snippets, 5,331 pos + 5,331 neg)",
        task="classify",
        licence=(
            "Bo Pang and Lillian Lee (ACL 2005). Data licence not stated; the v1.0 README gives "
            "only the citation."
        ),
        files=(
            DatasetFile(
                "rt-polarity.tsv",
                1281560,
                "2f77d2d3a5afcf1da835e1c6a1510b212aa6bb970dad47af6a8771eadbe16c84",
                local_names=("rt-polarity.tsv",),
            ),
        ),
        sources=(
            Source(
                (f"{_GH}/{_DENNYBRITZ}/rt-polarity.pos", f"{_GH}/{_DENNYBRITZ}/rt-polarity.neg"),
                conversion="rt-polarity-pair",
                note="dennybritz/cnn-text-classification-tf UTF-8 copy, converted to the TSV",
            ),
            Source(
                ("https://www.cs.cornell.edu/people/pabo/movie-review-data/"
                 "rt-polaritydata.tar.gz",),
                conversion="rt-polarity-tar",
                note="the publisher's tarball (Windows-1252), decoded and converted to the TSV",
            ),
        ),
        notes="TSV header label/text, no quoting; pos rows then neg rows in original order.",
    ),
    Dataset(
        name="eng-fra",
        description="English-French sentence pairs (Tatoeba via manythings.org, 2017-09-29)",
        task="seq2seq",
        licence=(
            "Tatoeba contributors, compiled by manythings.org; CC BY 2.0 (attribution: "
            "www.manythings.org/anki and tatoeba.org)."
        ),
        files=(
            DatasetFile(
                "eng-fra.txt",
                10009515,
                "2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888",
                local_names=("eng-fra.txt", "fra.txt"),
                member="fra.txt",
            ),
            DatasetFile(
                "eng-fra_about.txt",
                1441,
                "359011f5738272138286287b44db215d184823911eb049da2160a6ac6933d6c9",
                local_names=("eng-fra_about.txt", "_about.txt"),
                member="_about.txt",
            ),
        ),
        sources=(
            Source(
                (f"{_GH}/{_GENIMIND}/fra-eng.zip",),
                conversion="zip",
                note="genimind/seq2seq fra-eng.zip at a fixed commit; members verified",
            ),
        ),
        notes=(
            "142,787 pairs; not byte-identical to the PyTorch tutorial's eng-fra.txt (135,842 "
            "pairs), same format."
        ),
    ),
    Dataset(
        name="sherlock",
        description="The Complete Sherlock Holmes (sherlock-holm.es v3.1 cano.txt)",
        task="lm-char",
        licence=(
            "Arthur Conan Doyle; text formatted by the sherlock-holm.es collection, distributed "
            "'as-is, no warranty'. Repo licence not stated."
        ),
        files=(
            DatasetFile(
                "sherlock.txt",
                3868219,
                "a402700fbf9140578927b0453ec9dc4a1f04be9029f259e752eafd9f59cefae3",
                local_names=("sherlock.txt", "cano.txt"),
            ),
        ),
        sources=(
            Source(
                (f"{_GH}/{_SHERLOCK}/cano.txt",),
                note="M1314/InteligenciaPython cano.txt at a fixed commit (the clean copy)",
            ),
        ),
        notes="76,760 lines, UTF-8; athibaul/donnees17-at's copy is corrupted, not used.",
    ),
)

#: Every named dataset, by name.
DATASETS: dict[str, Dataset] = {entry.name: entry for entry in _ENTRIES}


def get_dataset(name: str) -> Dataset:
    """Return the dataset called ``name``.

    Raises:
        ValueError: no dataset of that name (the message lists the names).
    """
    if name not in DATASETS:
        raise ValueError(
            f"Argument `name` must be one of {', '.join(DATASETS)}; got {name!r}."
        )
    return DATASETS[name]


def find_by_sha256(sha256: str) -> list[tuple[Dataset, DatasetFile]]:
    """The registry files whose content has this sha256.

    Examples:
        >>> [(d.name, f.name) for d, f in find_by_sha256(
        ...     "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")]
        [('tiny-shakespeare', 'tinyshakespeare.txt')]
    """
    return [(d, f) for d in DATASETS.values() for f in d.files if f.sha256 == sha256]
