"""What a loader tells a streaming dataset before each epoch: the settings its plan needs.

``StreamingDataLoader`` calls these on its dataset in the training process, before the
DataLoader copies the dataset into its workers: the epoch, the batch size, how many
batches of the epoch were already consumed (resume), and the rank and world size (the
workers cannot see the process group).
"""

from __future__ import annotations

from .env import DistributedEnv


class LoaderSteered:
    """Mixin holding the per-epoch settings of a dataset that follows the epoch plan."""

    def _init_steering(self) -> None:
        self.epoch = 0
        self._epoch_set = False
        self.batch_size = 1
        self.num_workers = 0
        self._first_batch = 0
        self.distributed_env: DistributedEnv | None = None

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order on the next iteration (the loader calls this every epoch)."""
        self.epoch = int(epoch)
        self._epoch_set = True

    def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = int(batch_size)

    def set_num_workers(self, num_workers: int) -> None:
        self.num_workers = int(num_workers)

    def resume_from(self, batches_consumed: int) -> None:
        """Start the next iteration after ``batches_consumed`` batches of the current epoch."""
        self._first_batch = int(batches_consumed)

    def set_distributed_env(self, env: DistributedEnv | None) -> None:
        """Pin the rank and world size for the next iterations (None: detect them)."""
        self.distributed_env = env

    def _env(self) -> DistributedEnv:
        return self.distributed_env or DistributedEnv.detect()

    def _start_iteration(self) -> int:
        """The batch to start at; afterwards the next plain iteration is a new epoch."""
        first = self._first_batch
        if not self._epoch_set:  # iterated without a loader: the next pass is a new epoch
            self.epoch += 1
        self._first_batch = 0
        return first
