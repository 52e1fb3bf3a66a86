"""The model cache's rules, on stand-in entries: least recently used out first, a budget in
bytes, the model in use always kept, stale copies of a file dropped, the default budget is a
share of the available memory."""

from __future__ import annotations

from sneakerstudio.core.models.cache import CachedModel, ModelCache, budget_from_env

GB = 1024**3


def entry(name: str, size: int) -> CachedModel:
    return CachedModel((name, 1, 1, "cpu", "torch.float32"), model=object(), size_bytes=size)


def test_least_recently_used_model_is_evicted_first_under_the_budget() -> None:
    cache = ModelCache(budget_bytes=5 * GB)
    a, b, c = entry("a", 2 * GB), entry("b", 2 * GB), entry("c", 2 * GB)
    cache.put(a, "cpu")
    cache.put(b, "cpu")
    assert cache.get(a.key) is a  # a is now the most recently used: b goes first
    evicted = cache.put(c, "cpu")
    assert evicted == 1
    assert [e.path for e in cache] == ["a", "c"]
    assert cache.used_bytes == 4 * GB


def test_make_room_frees_old_models_before_a_load() -> None:
    cache = ModelCache(budget_bytes=5 * GB)
    cache.put(entry("a", 2 * GB), "cpu")
    cache.put(entry("b", 2 * GB), "cpu")
    assert cache.make_room(3 * GB, "cpu") == 1
    assert [e.path for e in cache] == ["b"]


def test_the_model_in_use_stays_even_alone_over_the_budget() -> None:
    cache = ModelCache(budget_bytes=0)
    cache.put(entry("a", GB), "cpu")
    cache.put(entry("big", 10 * GB), "cpu")
    assert [e.path for e in cache] == ["big"]
    assert cache.current is not None and cache.current.path == "big"


def test_forget_path_drops_other_copies_of_the_same_file() -> None:
    cache = ModelCache(budget_bytes=100 * GB)
    old = entry("a", GB)
    new = CachedModel(("a", 1, 2, "cpu", "torch.float32"), model=object(), size_bytes=GB)
    cache.put(old, "cpu")
    cache.put(entry("b", GB), "cpu")
    assert cache.forget_path("a", keep=new.key) == 1
    assert [e.path for e in cache] == ["b"]


def test_default_budget_is_half_of_available_memory_counting_our_own_models() -> None:
    cache = ModelCache(available=lambda device: 8 * GB)
    assert cache.budget("cpu") == 4 * GB
    cache.put(entry("a", 2 * GB), "cpu")
    assert cache.budget("cpu") == 5 * GB  # our cached 2 GB could be freed


def test_budget_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("SNEAKERSTUDIO_MODEL_CACHE_GB", "1.5")
    assert budget_from_env() == int(1.5 * GB)
    assert ModelCache().budget("cpu") == int(1.5 * GB)
    monkeypatch.setenv("SNEAKERSTUDIO_MODEL_CACHE_GB", "lots")
    assert budget_from_env() is None
