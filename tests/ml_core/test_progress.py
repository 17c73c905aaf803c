from ml_core.progress import TqdmProgress, batches_progress, sub_progress


def test_sub_progress_maps_onto_the_parent_range():
    seen = []
    step = sub_progress(lambda p, m="": seen.append((p, m)), 20, 60)
    step(0, "a")
    step(50, "b")
    step(100, "c")
    step(150, "clamped")
    assert seen == [(20, "a"), (40, "b"), (60, "c"), (60, "clamped")]


def test_batches_progress_reports_counts():
    seen = []
    done = batches_progress(lambda p, m="": seen.append((p, m)), total=4, label="batch")
    done(1)
    done(4)
    assert seen == [(25.0, "batch 1/4"), (100.0, "batch 4/4")]


def test_tqdm_progress_never_goes_backwards():
    bar = TqdmProgress("test", disable=True)
    bar(50)
    bar(30)
    assert bar.percent == 50
    bar(100)
    assert bar.percent == 100
    bar.close()
