"""Lightning: a Trainer checkpoint captures the StreamingDataLoader and resumes the stream exactly."""

import pytest

from litdata_format import write_dataset
from litdata_stream import StreamingDataLoader, StreamingDataset

L = pytest.importorskip("lightning")
torch = pytest.importorskip("torch")


class Crash(Exception):
    pass


class Recorder(L.LightningModule):
    """A tiny model that records the sample ids of every batch it trains on."""

    def __init__(self, crash_at_step=None):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.seen = []
        self.crash_at_step = crash_at_step

    def training_step(self, batch, batch_idx):
        if self.global_step == self.crash_at_step:
            raise Crash(f"simulated crash at step {self.global_step}")
        ids, squares = batch
        self.seen.append(ids.tolist())
        return self.layer(squares.float().unsqueeze(1) / 1e4).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def make_loader(path, num_workers):
    return StreamingDataLoader(StreamingDataset(path, shuffle=True, seed=3), batch_size=8, num_workers=num_workers)


def trainer(tmp_path, devices=1, **kwargs):
    return L.Trainer(
        accelerator="cpu", devices=devices, logger=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=str(tmp_path), **kwargs,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("num_workers", [0, 2])
def test_trainer_resume_continues_the_data_stream_exactly(tmp_path, num_workers, monkeypatch):
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    write_dataset(tmp_path / "ds", [(i, i**2) for i in range(100)], chunk_size=10)
    path = str(tmp_path / "ds")

    reference = Recorder()
    trainer(tmp_path / "ref", max_epochs=2, enable_checkpointing=False).fit(reference, make_loader(path, num_workers))
    assert len(reference.seen) == 2 * 13

    # The first run checkpoints every 5 steps and crashes at step 19: the last checkpoint
    # (step 15, mid second epoch) is what it leaves behind.
    first = Recorder(crash_at_step=19)
    saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=5, save_top_k=-1)
    with pytest.raises(Crash):
        trainer(tmp_path / "run", max_epochs=2, callbacks=[saver]).fit(first, make_loader(path, num_workers))
    assert first.seen == reference.seen[:19]
    checkpoint = sorted((tmp_path / "ckpt").glob("*step=15.ckpt"))[0]

    resumed = Recorder()
    trainer(tmp_path / "run", max_epochs=2, enable_checkpointing=False).fit(
        resumed, make_loader(path, num_workers), ckpt_path=str(checkpoint)
    )
    assert first.seen[:15] + resumed.seen == reference.seen


class FileRecorder(Recorder):
    """Records to a file per rank: DDP ranks run in their own processes."""

    def __init__(self, folder, crash_at_step=None):
        super().__init__(crash_at_step)
        self.folder = str(folder)

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        with open(f"{self.folder}/rank{self.global_rank}.txt", "a") as f:
            f.write(" ".join(map(str, self.seen[-1])) + "\n")
        return loss


def read_ranks(folder):
    return [[list(map(int, line.split())) for line in open(f"{folder}/rank{r}.txt")] for r in range(2)]


@pytest.mark.slow
def test_ddp_two_processes_resume_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("LITDATA_CACHE_DIR", str(tmp_path / "cache"))
    write_dataset(tmp_path / "ds", [(i, i**2) for i in range(100)], chunk_size=10)
    path = str(tmp_path / "ds")

    def ddp_trainer(root, **kwargs):
        return trainer(root, strategy="ddp_spawn", devices=2, max_epochs=2, **kwargs)

    for name in ("ref", "first", "resumed"):
        (tmp_path / name).mkdir()
    ddp_trainer(tmp_path / "r", enable_checkpointing=False).fit(FileRecorder(tmp_path / "ref"), make_loader(path, 1))
    reference = read_ranks(tmp_path / "ref")
    # 100 samples over 2 ranks, drop_last on under DDP: 48 per rank in 6 batches, per epoch
    assert [len(r) for r in reference] == [12, 12]
    first_epoch = [i for rank in reference for batch in rank[:6] for i in batch]
    assert len(first_epoch) == len(set(first_epoch)) == 96

    saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=4, save_top_k=-1)
    with pytest.raises(Exception, match="simulated crash"):
        ddp_trainer(tmp_path / "r", callbacks=[saver]).fit(FileRecorder(tmp_path / "first", crash_at_step=10),
                                                           make_loader(path, 1))
    checkpoint = sorted((tmp_path / "ckpt").glob("*step=8.ckpt"))[0]
    ddp_trainer(tmp_path / "r", enable_checkpointing=False).fit(
        FileRecorder(tmp_path / "resumed"), make_loader(path, 1), ckpt_path=str(checkpoint)
    )
    first, resumed = read_ranks(tmp_path / "first"), read_ranks(tmp_path / "resumed")
    for rank in range(2):
        assert first[rank][:8] + resumed[rank] == reference[rank]
