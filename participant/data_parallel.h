// Fine-tuning across a participant's local GPUs (data parallelism inside one site): the model is
// replicated on each CUDA device, every step's batch is split between the replicas, and after the
// backward pass their gradients are averaged by an NCCL all-reduce (common/nccl), so every replica
// takes the same optimiser step and they stay identical: PyTorch's DistributedDataParallel,
// driven from one process.
//
// Needs a CUDA-enabled LibTorch and NCCL (FEDTL_HAVE_CUDA_TORCH). Other builds link
// data_parallel_stub.cc: dataParallelDeviceCount() is 0 there and trainDataParallel throws
// ConfigError saying what the build lacks, so callers need no #ifdefs.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/ml/backbone.h"
#include "common/ml/training.h"

namespace fedtl::participant {

struct DataParallelOptions {
  std::vector<int> devices;  // CUDA device indices; empty: every device LibTorch sees
  std::chrono::milliseconds allReduceTimeout{std::chrono::seconds(60)};  // per gradient all-reduce
  // A replica's logits for a shard; empty: replica->forward(x). May set train/eval modes, as
  // ml::trainLoop's forward may (fine-tuning on a frozen prefix's cache runs the suffix only).
  std::function<torch::Tensor(ml::TransferModel& replica, const torch::Tensor& x)> forward;
  // Called once per replica, on its device, before the first step; the hook it returns runs after
  // each step's gradients are averaged, before the optimiser step (where ml::trainLoop runs
  // afterBackward: FedProx's proximal pull, which is the same on every replica). Empty: none.
  std::function<std::function<void()>(ml::TransferModel& replica)> afterAverage;
};

struct DataParallelStats {
  ml::LoopStats loop;  // samples, seconds (the steps only, not the set-up) and final loss
  int devices = 0;
  double allReduceSeconds = 0;        // averaging gradients: flatten, NCCL all-reduce, unflatten
  std::int64_t gradientElements = 0;  // floats all-reduced per step
};

// CUDA devices data-parallel training can use: 0 in builds without a CUDA LibTorch and NCCL, or
// on a machine without a GPU. Never throws.
int dataParallelDeviceCount() noexcept;

// Throws ConfigError unless training on `devices` can start: in builds without a CUDA LibTorch
// and NCCL (saying what the build lacks and how to configure one), when this machine has fewer
// devices than asked for (naming how many it has), or for a negative or repeated index. The
// check trainDataParallel makes first, for callers that want to fail before costly set-up.
void checkDataParallelDevices(const std::vector<int>& devices);

// Trains `model` as ml::trainLoop would (the same batches, warm-up/cosine schedule, SGD options
// and shift augmentation from `loop`), data-parallel over options.devices. `groups` hold tensors
// of `model` (model->parameters(), or a strategy's trainable subset with its learning rates);
// `makeReplica` builds a model of the same architecture, into which `model`'s parameters,
// buffers, requires_grad flags and train/eval modes are copied, one per device. Inputs and labels
// may live anywhere; each step's shards are copied to their devices. When training ends, the
// first replica's parameters and buffers are copied back into `model`, which stays where it was
// (BatchNorm running statistics are therefore those of the first replica's shards, as with
// DistributedDataParallel's buffer broadcast from rank 0). loop.afterBackward is not supported
// (see options.afterAverage). One device is one replica and no all-reduce.
DataParallelStats trainDataParallel(ml::TransferModel& model, const std::function<ml::TransferModel()>& makeReplica,
                                    const std::vector<ml::ParamGroup>& groups, const torch::Tensor& inputs,
                                    const torch::Tensor& labels, const ml::LoopOptions& loop,
                                    const DataParallelOptions& options = {});

}  // namespace fedtl::participant
